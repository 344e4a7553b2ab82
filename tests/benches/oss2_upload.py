"""Uploads one file with Alibaba's official SDK (oss2.resumable_upload), for comparison
with `ossup upload` in upload_throughput.rs. Prints the elapsed seconds on stdout."""

import sys
import tempfile
import time

import oss2


def main():
    endpoint, bucket_name, key_id, secret, path, key, part_size, threads = sys.argv[1:9]
    bucket = oss2.Bucket(oss2.Auth(key_id, secret), endpoint, bucket_name)
    with tempfile.TemporaryDirectory() as checkpoints:
        started = time.monotonic()
        oss2.resumable_upload(
            bucket,
            key,
            path,
            store=oss2.ResumableStore(root=checkpoints),
            multipart_threshold=int(part_size),
            part_size=int(part_size),
            num_threads=int(threads),
        )
        elapsed = time.monotonic() - started
    print(f"{elapsed:.3f}")


if __name__ == "__main__":
    main()
