"""Python httpx: N GETs of one authorization on one Client (keep-alive), JSON decoded.
usage: py_httpx.py URL API_KEY N WARMUP
prints: requests wall_seconds cpu_seconds body_bytes  (cpu: time.process_time(), user + sys)"""
import sys
import time

import httpx

url, key, n, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
headers = {"Authorization": "Bearer " + key, "Accept": "application/json"}
with httpx.Client(headers=headers, timeout=60) as client:
    for _ in range(warmup):
        client.get(url).raise_for_status()
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        r = client.get(url)
        r.raise_for_status()
        auth = r.json()
    w1, c1 = time.perf_counter(), time.process_time()
    assert auth["id"]
    print(n, "%.6f" % (w1 - w0), "%.6f" % (c1 - c0), len(r.content))
