"""Uploads every file of a folder with Alibaba's oss2 SDK, THREADS puts at a time.

usage: oss2_small_files.py ENDPOINT BUCKET KEY_ID SECRET DIR PREFIX THREADS
"""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import oss2

endpoint, bucket_name, key_id, secret, folder, prefix, threads = sys.argv[1:8]
bucket = oss2.Bucket(oss2.Auth(key_id, secret), endpoint, bucket_name)
names = sorted(os.listdir(folder))


def put(name):
    bucket.put_object_from_file(prefix + name, os.path.join(folder, name))


with ThreadPoolExecutor(int(threads)) as pool:
    list(pool.map(put, names))
