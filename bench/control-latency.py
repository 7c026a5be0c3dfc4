#!/usr/bin/env python3
"""domain-info latency with N concurrent clients on their own connections,
through vmmd's JSON protocol and, given its socket, through libvirt's
protocol with libvirt-python (virDomainGetInfo), in one run.

usage: control-latency.py SOCKET CLIENTS REQUESTS_PER_CLIENT DOMAIN [LIBVIRT_SOCKET]
Prints a table (p50, p99, max in ms, total requests/s). Asserts nothing."""
import json
import socket
import sys
import threading
import time

path, nclients, nreq, dom = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lv_path = sys.argv[5] if len(sys.argv) > 5 else None


def json_client(ready, mine, errors):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile("rwb")
    f.readline()                                  # greeting
    ready.wait()
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
            errors.append(1)
    s.close()


def libvirt_client(ready, mine, errors):
    import libvirt
    conn = libvirt.open(f"vmm+unix:///system?socket={lv_path}")
    d = conn.lookupByName(dom)
    ready.wait()
    for _ in range(nreq):
        t = time.perf_counter()
        try:
            d.info()
        except libvirt.libvirtError:
            errors.append(1)
        mine.append(time.perf_counter() - t)
    conn.close()


def run(fn):
    lat, errors, lock = [], [], threading.Lock()
    ready = threading.Barrier(nclients)

    def one():
        mine = []
        fn(ready, mine, errors)
        with lock:
            lat.extend(mine)
    threads = [threading.Thread(target=one) for _ in range(nclients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(lat), time.perf_counter() - t0, len(errors)


def row(name, lat, wall, errors):
    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000
    print(f"{name:>9} {nclients:>8} {len(lat):>9} {pct(50):>8.2f} {pct(99):>8.2f} "
          f"{lat[-1] * 1000:>8.2f} {len(lat) / wall:>9.0f} {errors:>7}")


print(f"# domain-info latency, {nclients} concurrent clients x {nreq} requests")
print(f"{'protocol':>9} {'clients':>8} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
      f"{'req/s':>9} {'errors':>7}")
row("json", *run(json_client))
if lv_path:
    try:
        import libvirt  # noqa: F401 (python3-libvirt)
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        row("libvirt", *run(libvirt_client))
    except ImportError:
        print("# libvirt: libvirt-python is not installed (python3-libvirt)")
