#!/usr/bin/env python3
"""domain-info latency with N concurrent clients on their own connections.

usage: control-latency.py SOCKET CLIENTS REQUESTS_PER_CLIENT DOMAIN
Prints a table (p50, p99, max in ms, total requests/s). Asserts nothing."""
import json
import socket
import sys
import threading
import time

path, nclients, nreq, dom = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lat = []
lock = threading.Lock()
errors = [0]
barrier = threading.Barrier(nclients)


def client():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile("rwb")
    f.readline()                                  # greeting
    mine = []
    barrier.wait()
    for i in range(nreq):
        t = time.perf_counter()
        f.write((json.dumps({"execute": "domain-info", "arguments": {"name": dom}, "id": i}) + "\n").encode())
        f.flush()
        while True:
            msg = json.loads(f.readline())
            if "event" not in msg:
                break
        mine.append(time.perf_counter() - t)
        if "return" not in msg:
            with lock:
                errors[0] += 1
    with lock:
        lat.extend(mine)
    s.close()


threads = [threading.Thread(target=client) for _ in range(nclients)]
t0 = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - t0
lat.sort()


def pct(p):
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000


print(f"# domain-info latency, {nclients} concurrent clients x {nreq} requests")
print(f"{'clients':>8} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>9} {'errors':>7}")
print(f"{nclients:>8} {len(lat):>9} {pct(50):>8.2f} {pct(99):>8.2f} {lat[-1] * 1000:>8.2f} {len(lat) / wall:>9.0f} {errors[0]:>7}")
