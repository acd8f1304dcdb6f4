"""Python requests: N GETs of one authorization on one Session (keep-alive), JSON decoded.
usage: py_requests.py URL API_KEY N WARMUP
prints: requests wall_seconds cpu_seconds body_bytes  (cpu: time.process_time(), user + sys)"""
import sys
import time

import requests

url, key, n, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
headers = {"Authorization": "Bearer " + key, "Accept": "application/json"}
with requests.Session() as client:
    client.headers.update(headers)
    for _ in range(warmup):
        client.get(url, timeout=60).raise_for_status()
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        r = client.get(url, timeout=60)
        r.raise_for_status()
        auth = r.json()
    w1, c1 = time.perf_counter(), time.process_time()
    assert auth["id"]
    print(n, "%.6f" % (w1 - w0), "%.6f" % (c1 - c0), len(r.content))
