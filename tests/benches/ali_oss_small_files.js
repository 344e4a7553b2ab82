// Uploads every file of a folder with Alibaba's Node SDK (ali-oss), `inFlight` puts at a
// time (an IP endpoint makes it address the bucket path-style); prints nothing, exits 1
// on any failure.
// usage: node ali_oss_small_files.js ENDPOINT BUCKET KEY_ID SECRET DIR PREFIX IN_FLIGHT
const fs = require('fs');
const path = require('path');
const OSS = require('ali-oss');

const [endpoint, bucket, accessKeyId, accessKeySecret, dir, prefix, inFlight] =
  process.argv.slice(2);
const client = new OSS({
  endpoint,
  bucket,
  accessKeyId,
  accessKeySecret,
  cname: false,
  secure: endpoint.startsWith('https'),
  authorizationV4: false,
});

const names = fs.readdirSync(dir);
let next = 0;
async function worker() {
  while (next < names.length) {
    const name = names[next++];
    await client.put(prefix + name, path.join(dir, name));
  }
}
Promise.all(Array.from({ length: Number(inFlight) }, worker)).then(
  () => process.exit(0),
  (error) => {
    console.error(error.message);
    process.exit(1);
  }
);
