"""Drives a running `ossup serve` with Alibaba's official Python SDK (oss2), unchanged.

Usage: oss2_check.py ENDPOINT BUCKET ACCESS_KEY_ID ACCESS_KEY_SECRET REGION WORK_DIR

Runs the same checks with V1 (oss2.Auth) and V4 (oss2.ProviderAuthV4 with the region):
PutObject/HeadObject, a resumable multipart upload of a ~5 MiB random file (4 threads,
1 MiB parts, CRC check on) read back with GetObject, a manual multipart upload seen by
ListMultipartUploads and ListParts and gone after AbortMultipartUpload, presigned PUT and
GET URLs from Bucket.sign_url (V4 with an additional signed header), STS credentials
(oss2.StsAuth; the local server does not validate the token, only the signature over it),
a wrong secret refused with SignatureDoesNotMatch, an upload-only key that writes
(PutObject, multipart) but gets AccessDenied on listings and reads, and ObjectIteratorV2 paging
ListObjectsV2 over more than 1000 keys (awkward ones included) with and without a
delimiter, from start_after, and with fetch_owner. Prints one `OK <check>` line per check and
`ALL CHECKS PASSED` at the end; on the first failure prints `FAIL <check>: <reason>` and
exits with status 1.
"""

import concurrent.futures
import datetime
import hashlib
import os
import sys
import traceback

import oss2
import requests
from oss2.credentials import StaticCredentialsProvider

MIB = 1024 * 1024


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def make_bucket(auth_version, endpoint, bucket_name, key_id, secret, region):
    if auth_version == "v1":
        auth = oss2.Auth(key_id, secret)
        return oss2.Bucket(auth, endpoint, bucket_name, enable_crc=True)
    auth = oss2.ProviderAuthV4(StaticCredentialsProvider(key_id, secret))
    return oss2.Bucket(auth, endpoint, bucket_name, region=region, enable_crc=True)


def check_put_and_head(bucket, prefix):
    key = prefix + "small/hello world+1.txt"
    body = b"hello from oss2\n" * 64
    result = bucket.put_object(key, body, headers={"Content-Type": "text/plain"})
    expect(result.status == 200, "PutObject status %s" % result.status)
    expected_etag = hashlib.md5(body).hexdigest().upper()
    expect(result.etag.upper() == expected_etag,
           "PutObject ETag %s, expected %s" % (result.etag, expected_etag))
    expect(result.crc is not None, "PutObject returned no x-oss-hash-crc64ecma")

    head = bucket.head_object(key)
    expect(head.content_length == len(body),
           "HeadObject length %s, expected %s" % (head.content_length, len(body)))
    expect(head.etag.upper() == expected_etag, "HeadObject ETag %s" % head.etag)
    expect(head.server_crc == result.crc,
           "HeadObject CRC %s, PutObject CRC %s" % (head.server_crc, result.crc))
    expect(head.content_type == "text/plain", "HeadObject Content-Type %s" % head.content_type)

    got = bucket.get_object(key).read()
    expect(got == body, "GetObject returned %d bytes that differ" % len(got))


def check_resumable_upload(bucket, prefix, work_dir):
    size = 5 * MIB + 12345
    path = os.path.join(work_dir, prefix.strip("/") + "-random.bin")
    data = os.urandom(size)
    with open(path, "wb") as f:
        f.write(data)
    key = prefix + "big/random.bin"
    store = oss2.ResumableStore(root=os.path.join(work_dir, prefix.strip("/") + "-store"))
    result = oss2.resumable_upload(
        bucket, key, path,
        store=store,
        multipart_threshold=MIB,
        part_size=MIB,
        num_threads=4,
    )
    # oss2 compares the Complete CRC with the CRC it folded from the parts (enable_crc).
    expect(result.status == 200, "resumable_upload status %s" % result.status)
    expect(result.crc is not None, "CompleteMultipartUpload returned no CRC")

    head = bucket.head_object(key)
    expect(head.content_length == size, "HeadObject length %s" % head.content_length)
    expect(head.object_type == "Multipart", "object type %s" % head.object_type)
    expect(head.server_crc == result.crc,
           "HeadObject CRC %s, Complete CRC %s" % (head.server_crc, result.crc))

    stream = bucket.get_object(key)
    got = stream.read()
    expect(len(got) == size, "GetObject returned %d bytes, expected %d" % (len(got), size))
    expect(got == data, "GetObject bytes differ from the uploaded file")


def find_upload(bucket, key, upload_id):
    for upload in oss2.MultipartUploadIterator(bucket):
        if upload.key == key and upload.upload_id == upload_id:
            return upload
    return None


def check_list_and_abort(bucket, prefix):
    key = prefix + "manual/part list.bin"
    upload_id = bucket.init_multipart_upload(key).upload_id
    expect(upload_id, "InitiateMultipartUpload returned no UploadId")
    part_body = os.urandom(200 * 1024)
    part = bucket.upload_part(key, upload_id, 1, part_body)
    expect(part.etag.upper() == hashlib.md5(part_body).hexdigest().upper(),
           "UploadPart ETag %s" % part.etag)

    expect(find_upload(bucket, key, upload_id) is not None,
           "ListMultipartUploads does not show upload %s" % upload_id)
    parts = bucket.list_parts(key, upload_id).parts
    expect(len(parts) == 1, "ListParts shows %d parts, expected 1" % len(parts))
    expect(parts[0].part_number == 1, "ListParts part number %s" % parts[0].part_number)
    expect(parts[0].size == len(part_body), "ListParts size %s" % parts[0].size)
    expect(parts[0].etag.upper() == part.etag.upper(), "ListParts ETag %s" % parts[0].etag)

    bucket.abort_multipart_upload(key, upload_id)
    expect(find_upload(bucket, key, upload_id) is None,
           "upload %s still listed after AbortMultipartUpload" % upload_id)
    try:
        bucket.list_parts(key, upload_id)
    except oss2.exceptions.NoSuchUpload:
        pass
    else:
        raise CheckFailed("ListParts after abort did not raise NoSuchUpload")


def check_presigned_urls(bucket, prefix, auth_version):
    key = prefix + "presigned/report 1+2.txt"
    body = b"uploaded through a presigned URL\n"
    headers = {"Content-Type": "text/plain"}
    additional = None
    if auth_version == "v4":
        headers["Content-Disposition"] = "attachment"
        additional = ["Content-Disposition"]
    put_url = bucket.sign_url("PUT", key, 300, headers=headers, additional_headers=additional)
    session = requests.Session()
    session.trust_env = False  # straight to 127.0.0.1, whatever proxy the machine has
    answer = session.put(put_url, data=body, headers=headers)
    expect(answer.status_code == 200,
           "presigned PUT answered %s: %s" % (answer.status_code, answer.text))

    get_url = bucket.sign_url("GET", key, 300)
    answer = session.get(get_url)
    expect(answer.status_code == 200, "presigned GET answered %s" % answer.status_code)
    expect(answer.content == body, "presigned GET returned different bytes")

    # A Content-Type other than the signed one must be refused.
    other = dict(headers, **{"Content-Type": "text/html"})
    answer = session.put(put_url, data=body, headers=other)
    expect(answer.status_code == 403 and b"SignatureDoesNotMatch" in answer.content,
           "presigned PUT with another Content-Type answered %s: %s"
           % (answer.status_code, answer.text))


def check_sts(auth_version, endpoint, bucket_name, key_id, secret, region, prefix):
    version = oss2.AUTH_VERSION_4 if auth_version == "v4" else oss2.AUTH_VERSION_1
    auth = oss2.StsAuth(key_id, secret, "local/sts+token==", auth_version=version)
    bucket = oss2.Bucket(auth, endpoint, bucket_name,
                         region=region if auth_version == "v4" else None)
    key = prefix + "sts/object.bin"
    body = os.urandom(4096)
    bucket.put_object(key, body)
    got = bucket.get_object(key).read()
    expect(got == body, "GetObject with STS credentials returned different bytes")


def check_wrong_secret(auth_version, endpoint, bucket_name, key_id, region):
    bad = make_bucket(auth_version, endpoint, bucket_name, key_id, "not-the-secret", region)
    try:
        bad.put_object("denied.txt", b"x")
    except oss2.exceptions.SignatureDoesNotMatch as error:
        expect(error.status == 403, "status %s" % error.status)
        expect(error.code == "SignatureDoesNotMatch", "code %s" % error.code)
    else:
        raise CheckFailed("a wrong secret was accepted")


def put_empty_objects(bucket, keys):
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for key, result in zip(keys, pool.map(lambda key: bucket.put_object(key, b""), keys)):
            expect(result.status == 200, "PutObject %r status %s" % (key, result.status))


def iterate_v2(bucket, **options):
    return list(oss2.ObjectIteratorV2(bucket, **options))


def check_list_objects_v2(bucket, prefix):
    base = prefix + "v2/"
    files = [base + "f%04d" % i for i in range(1005)]
    folders = [base + "d%02d/" % d for d in range(30)]
    odd = [base + "a b+c%.txt", base + "文件 ü.bin"]
    nested = [folder + name for folder in folders for name in ("x", "y z+%.txt", "deeper/1")]
    keys = files + odd + nested
    put_empty_objects(bucket, keys)

    # No delimiter: every key once, in order, whatever the page size.
    for max_keys in (100, 1000, 7):
        listed = iterate_v2(bucket, prefix=base, max_keys=max_keys)
        names = [info.key for info in listed]
        expect(names == sorted(keys),
               "max_keys %d: %d keys listed, %d expected (first difference at %s)"
               % (max_keys, len(names), len(keys),
                  next((i for i, (a, b) in enumerate(zip(names, sorted(keys))) if a != b), None)))
        expect(all(info.owner is None for info in listed), "Owner without fetch_owner")
        expect(all(info.size == 0 and not info.is_prefix() for info in listed),
               "objects listed as prefixes or with a size")

    # With a delimiter: 1037 entries, common prefixes counted towards max_keys.
    first = bucket.list_objects_v2(prefix=base, delimiter="/", max_keys=1000)
    expect(first.is_truncated and first.next_continuation_token,
           "the first page of 1000 is not truncated")
    expect(len(first.object_list) + len(first.prefix_list) == 1000,
           "the first page has %d objects and %d prefixes"
           % (len(first.object_list), len(first.prefix_list)))
    expected = sorted(files + odd + folders)
    for max_keys in (1000, 7):
        listed = iterate_v2(bucket, prefix=base, delimiter="/", max_keys=max_keys)
        names = [info.key for info in listed]
        expect(names == expected,
               "max_keys %d with delimiter: %d entries listed, %d expected"
               % (max_keys, len(names), len(expected)))
        prefixes = [info.key for info in listed if info.is_prefix()]
        expect(prefixes == folders, "common prefixes %s" % prefixes[:5])

    after = iterate_v2(bucket, prefix=base, start_after=files[499], max_keys=300)
    later = [key for key in sorted(keys) if key > files[499]]
    expect([info.key for info in after] == later,
           "start_after %s lists %d keys, %d expected" % (files[499], len(after), len(later)))

    owned = iterate_v2(bucket, prefix=base, delimiter="/", fetch_owner=True, max_keys=1000)
    objects = [info for info in owned if not info.is_prefix()]
    expect(len(objects) == len(files) + len(odd), "%d objects with fetch_owner" % len(objects))
    expect(all(info.owner is not None and info.owner.id for info in objects),
           "an object without an Owner despite fetch_owner")


# The upload-only key `ossup serve` is started with (oss:PutObject alone).
WRITER_KEY_ID = "INTEROPWRITERKEY"
WRITER_KEY_SECRET = "interop-writer-secret"


def expect_access_denied(call, what):
    try:
        call()
    except oss2.exceptions.AccessDenied as error:
        expect(error.status == 403, "%s: status %s" % (what, error.status))
    else:
        raise CheckFailed("%s with an upload-only key was allowed" % what)


def check_upload_only_key(auth_version, endpoint, bucket_name, region, prefix):
    writer = make_bucket(auth_version, endpoint, bucket_name, WRITER_KEY_ID,
                         WRITER_KEY_SECRET, region)
    key = prefix + "writer/object.bin"
    writer.put_object(key, b"written by an upload-only key")
    part = os.urandom(200 * 1024)
    upload_id = writer.init_multipart_upload(key + ".mp").upload_id
    result = writer.upload_part(key + ".mp", upload_id, 1, part)
    writer.complete_multipart_upload(key + ".mp", upload_id,
                                     [oss2.models.PartInfo(1, result.etag)])
    expect_access_denied(lambda: writer.list_objects(prefix=prefix), "ListObjects")
    expect_access_denied(lambda: writer.list_multipart_uploads(), "ListMultipartUploads")
    expect_access_denied(lambda: writer.get_object(key).read(), "GetObject")


def check_lifecycle(bucket, prefix):
    from oss2.models import (AbortMultipartUpload, BucketLifecycle, LifecycleExpiration,
                             LifecycleRule, StorageTransition)
    abort_rule = LifecycleRule(prefix + "abort-stale", prefix + "tmp/",
                               status=LifecycleRule.ENABLED,
                               abort_multipart_upload=AbortMultipartUpload(days=7))
    dated_rule = LifecycleRule(prefix + "abort-dated", prefix + "old/",
                               status=LifecycleRule.DISABLED,
                               abort_multipart_upload=AbortMultipartUpload(
                                   created_before_date=datetime.date(2024, 12, 1)))
    archive_rule = LifecycleRule(prefix + "archive", prefix + "logs/",
                                 status=LifecycleRule.ENABLED,
                                 expiration=LifecycleExpiration(days=365),
                                 storage_transitions=[StorageTransition(days=30,
                                                                        storage_class="IA")])
    result = bucket.put_bucket_lifecycle(BucketLifecycle([abort_rule, dated_rule, archive_rule]))
    expect(result.status == 200, "PutBucketLifecycle status %s" % result.status)
    got = bucket.get_bucket_lifecycle()
    rules = dict((rule.id, rule) for rule in got.rules)
    expect(sorted(rules) == sorted([abort_rule.id, dated_rule.id, archive_rule.id]),
           "GetBucketLifecycle rules %s" % sorted(rules))
    stale = rules[abort_rule.id]
    expect(stale.prefix == prefix + "tmp/", "rule prefix %s" % stale.prefix)
    expect(stale.status == LifecycleRule.ENABLED, "rule status %s" % stale.status)
    expect(stale.abort_multipart_upload.days == 7,
           "AbortMultipartUpload days %s" % stale.abort_multipart_upload.days)
    dated = rules[dated_rule.id].abort_multipart_upload
    expect(dated.created_before_date == datetime.date(2024, 12, 1),
           "AbortMultipartUpload date %s" % dated.created_before_date)
    archive = rules[archive_rule.id]
    expect(archive.expiration.days == 365, "Expiration days %s" % archive.expiration.days)
    expect(archive.storage_transitions[0].storage_class == "IA",
           "Transition %s" % archive.storage_transitions[0].storage_class)
    bad = LifecycleRule(prefix + "bad", prefix + "bad/", status=LifecycleRule.ENABLED,
                        abort_multipart_upload=AbortMultipartUpload(days=0))
    try:
        bucket.put_bucket_lifecycle(BucketLifecycle([bad]))
        expect(False, "a rule with Days 0 was accepted")
    except oss2.exceptions.ServerError as error:
        expect(error.status == 400 and error.code == "InvalidArgument",
               "Days 0 answered %s %s" % (error.status, error.code))
    bucket.delete_bucket_lifecycle()
    try:
        bucket.get_bucket_lifecycle()
        expect(False, "GetBucketLifecycle after delete returned rules")
    except oss2.exceptions.NoSuchLifecycle:
        pass


def main(argv):
    if len(argv) != 7:
        print(__doc__)
        return 2
    endpoint, bucket_name, key_id, secret, region, work_dir = argv[1:]
    print("oss2 %s against %s" % (oss2.__version__, endpoint), flush=True)
    for auth_version in ("v1", "v4"):
        bucket = make_bucket(auth_version, endpoint, bucket_name, key_id, secret, region)
        prefix = auth_version + "/"
        checks = [
            ("put_object/head_object", lambda: check_put_and_head(bucket, prefix)),
            ("resumable_upload/get_object",
             lambda: check_resumable_upload(bucket, prefix, work_dir)),
            ("list_multipart_uploads/list_parts/abort",
             lambda: check_list_and_abort(bucket, prefix)),
            ("presigned urls", lambda: check_presigned_urls(bucket, prefix, auth_version)),
            ("sts token",
             lambda: check_sts(auth_version, endpoint, bucket_name, key_id, secret, region,
                               prefix)),
            ("wrong secret",
             lambda: check_wrong_secret(auth_version, endpoint, bucket_name, key_id, region)),
            ("list_objects_v2", lambda: check_list_objects_v2(bucket, prefix)),
            ("upload-only key",
             lambda: check_upload_only_key(auth_version, endpoint, bucket_name, region,
                                           prefix)),
            ("put/get/delete_bucket_lifecycle", lambda: check_lifecycle(bucket, prefix)),
        ]
        for name, check in checks:
            label = "%s %s" % (auth_version, name)
            try:
                check()
            except Exception as error:  # report any failure, oss2's or ours, and stop
                print("FAIL %s: %s: %s" % (label, type(error).__name__, error), flush=True)
                traceback.print_exc()
                return 1
            print("OK %s" % label, flush=True)
    print("ALL CHECKS PASSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
