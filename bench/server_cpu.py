"""Server CPU per API request: a create / patch answers / retrieve mix over one keep-alive
connection to a running collate-sandbox, timed by the sandbox's own CPU time (utime + stime of
/proc/<pid>/stat), so the client's cost does not count.
usage: server_cpu.py BASE_URL KEY SANDBOX_PID ROUNDS WARMUP_ROUNDS
Prints: requests server_cpu_seconds wall_seconds"""
import http.client
import json
import os
import sys
import time
import urllib.parse

base, key, pid, rounds, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
ticks = os.sysconf("SC_CLK_TCK")


def server_cpu():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15)


def call(method, path, body=None, headers=None):
    h = {"Authorization": "Bearer " + key}
    if body is not None:
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit("server_cpu: %s %s -> %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data)


def text(link_id, value):
    return {"linkId": link_id, "answer": [{"valueString": value}]}


counter = [0]


def one_round():
    counter[0] += 1
    auth = call("POST", "/v1/prior-authorizations", {
        "providerNpi": "1234567893",
        "request": {"payerId": "payer_aetna", "coverageState": "CA", "requestType": "drug",
                    "serviceCode": {"system": "hcpcs", "code": "J0791"}},
        "policy": {"finalSubmission": "requires_approval"},
        "answers": {"item": [text("patient.firstName", "Jane"), text("patient.lastName", "Doe"),
                             {"linkId": "patient.dateOfBirth", "answer": [{"valueDate": "1990-04-12"}]},
                             text("coverage.memberId", "SBX-BENCH-0001")]},
        "metadata": {"externalCaseId": "case_%d" % counter[0], "team": "utilization-review"},
    }, {"Idempotency-Key": "bench-%d-%d" % (os.getpid(), counter[0])})
    path = "/v1/prior-authorizations/" + auth["id"]
    auth = call("PATCH", path + "/answers", {"answers": {"item": [text("patient.firstName", "Janet")]}},
                {"If-Match": '"%d"' % auth["version"]})
    call("GET", path)
    return 3


for _ in range(warmup):
    one_round()
cpu0, wall0, n = server_cpu(), time.monotonic(), 0
for _ in range(rounds):
    n += one_round()
print(n, server_cpu() - cpu0, time.monotonic() - wall0)
