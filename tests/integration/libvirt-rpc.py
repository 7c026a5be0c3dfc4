#!/usr/bin/python3
"""Part of test-libvirt-rpc.sh: libvirt-python against vmmd, and hostile
packets on vmmd's libvirt socket. Prints TAP lines without a plan (the
shell test owns the plan); argv: URI SOCKET DOMAIN_XML, or
console URI DOMAIN: `virsh console` on a pseudo-terminal (it wants one)."""
import os
import pty
import select
import socket
import struct
import sys
import threading
import time

import libvirt

n = 0


def ok(cond, what):
    global n
    n += 1
    print(("ok" if cond else "not ok") + " - python: " + what, flush=True)


def read_until(read, marker, seconds):
    """What read() returns, up to marker or seconds."""
    got = b""
    end = time.monotonic() + seconds
    while marker not in got and time.monotonic() < end:
        got += read()
    return got


if sys.argv[1] == "console":
    uri, name = sys.argv[2:4]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("virsh", ["virsh", "-c", uri, "console", name])

    def pty_read():
        if not select.select([fd], [], [], 1)[0]:
            return b""
        try:
            return os.read(fd, 65536)
        except OSError:
            return b""
    got = read_until(pty_read, b'"event":"idle"', 60)
    ok(b"Connected to domain '%s'" % name.encode() in got and b'"event":"idle"' in got,
       "virsh console: the guest kit's serial output up to its idle line")
    os.write(fd, b"\x1d")   # Ctrl+], virsh's escape character
    read_until(pty_read, b"never", 3)
    ok(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0,
       "virsh console: Ctrl+] ends it, status 0")
    sys.exit(0)

uri, sock_path, xml_path = sys.argv[1:4]

# raw packets ----------------------------------------------------------------
REMOTE, OPEN, AUTH_LIST = 0x20008086, 1, 66


def packet(prog, vers, proc, typ=0, serial=1, status=0, payload=b"", length=None):
    body = struct.pack(">IIiIII", prog, vers, proc, typ, serial, status) + payload
    return struct.pack(">I", len(body) + 4 if length is None else length) + body


def exchange(data, read=True, replies=1):
    """Sends data on a fresh connection; the last of that many replies (b''
    when the connection closed first)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    s.sendall(data)
    if not read:
        s.close()
        return None
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            while len(got) >= 4 and len(got) >= struct.unpack(">I", got[:4])[0] and replies > 1:
                got = got[struct.unpack(">I", got[:4])[0]:]
                replies -= 1
            if len(got) >= 4 and len(got) >= struct.unpack(">I", got[:4])[0]:
                break
    except socket.timeout:
        pass
    s.close()
    return got


def reply_status(r):
    return struct.unpack(">IIiIII", r[4:28]) if len(r) >= 28 else None


libvirt.registerErrorHandler(lambda ctx, err: None, None)

# --- libvirt-python: define, start, events, stats, shut down ---------------
libvirt.virEventRegisterDefaultImpl()
events = []
stop = threading.Event()


def loop():
    while not stop.is_set():
        libvirt.virEventRunDefaultImpl()


threading.Thread(target=loop, daemon=True).start()
conn = libvirt.open(uri)
ok(conn.getType() == "VMM", "getType() is VMM (%s)" % conn.getType())
cb = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                 lambda c, d, ev, det, o: events.append((d.name(), ev, det)),
                                 None)
with open(xml_path) as f:
    dom = conn.defineXML(f.read())
ok(dom.name() == "pydemo", "defineXML returns the domain")
ok(dom.create() == 0, "create() starts it")
ok(dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING, "state() is running")
st = conn.newStream(0)
dom.openConsole(None, st, 0)
got = read_until(lambda: st.recv(65536), b'"event":"idle"', 60)
ok(b'"event":"idle"' in got, "openConsole: the stream carries the guest kit's serial output")
st.abort()
stats = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_BLOCK)
rec = dict((d.name(), s) for d, s in stats).get("pydemo", {})
ok(rec.get("state.state") == libvirt.VIR_DOMAIN_RUNNING and rec.get("block.0.name") == "vda"
   and "cpu.time" not in rec, "getAllDomainStats: state and block groups only (%s)"
   % sorted(rec)[:6])
info = dom.info()
ok(info[1] == 262144 and info[3] == 2, "info(): max memory and vCPUs (%s)" % (info,))
dom.destroy()
ok(dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF, "destroy(): shut off")
for _ in range(100):
    if any(e[1] == libvirt.VIR_DOMAIN_EVENT_STOPPED for e in events):
        break
    stop.wait(0.1)
ok((("pydemo", libvirt.VIR_DOMAIN_EVENT_STARTED, 0) in events and
    ("pydemo", libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED)
    in events), "lifecycle events: started, stopped/destroyed (%s)" % events)
conn.domainEventDeregisterAny(cb)
# A client gone before its answer: create-with-flags is answered once the
# worker runs the guest, by then to nobody.
name = dom.name().encode()
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sock_path)
s.sendall(packet(REMOTE, 1, OPEN, payload=struct.pack(">II", 0, 0)) +
          packet(REMOTE, 1, 196, serial=2, payload=struct.pack(">I", len(name)) + name +
                 b"\0" * (-len(name) % 4) + dom.UUID() + struct.pack(">iI", -1, 0)))
s.recv(28)   # the open's reply: the create is under way
s.close()
try:
    for _ in range(300):
        if dom.isActive():
            break
        time.sleep(0.1)
    time.sleep(0.5)
    alive = dom.isActive() == 1 and conn.getHostname() != ""
    dom.destroy()
except libvirt.libvirtError as e:
    alive = False
    print("# %s" % e)
ok(alive, "a client gone before its answer came: the domain starts, the daemon goes on")
if not alive:
    sys.exit(1)
dom.undefine()
try:
    conn.lookupByName("pydemo")
    ok(False, "lookupByName after undefine fails")
except libvirt.libvirtError as e:
    ok(e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, "lookupByName after undefine: "
       "VIR_ERR_NO_DOMAIN (%s)" % e)
try:
    conn.getCPUModelNames("x86_64")
    ok(False, "an unimplemented call fails")
except libvirt.libvirtError as e:
    ok(e.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT and
       "not supported by the connection driver" in str(e),
       "an unimplemented call: VIR_ERR_NO_SUPPORT (%s)" % e)

# --- hostile packets ---------------------------------------------------------
r = reply_status(exchange(packet(0x1234, 1, 1)))
ok(r and r[0] == 0x1234 and r[3] == 1 and r[5] == 1, "wrong program: an error reply (%s)" % (r,))
r = reply_status(exchange(packet(REMOTE, 7, OPEN)))
ok(r and r[5] == 1, "wrong version: an error reply")
# connect-open with a string claimed to be 4 GiB long, and a truncated one
r = reply_status(exchange(packet(REMOTE, 1, OPEN, payload=struct.pack(">II", 1, 0xffffffff))))
ok(r and r[5] == 1, "string beyond REMOTE_STRING_MAX: an error reply")
r = reply_status(exchange(packet(REMOTE, 1, OPEN, payload=struct.pack(">I", 1))))
ok(r and r[5] == 1, "truncated XDR: an error reply")
# get-all-domain-stats claiming 2^32-1 domains (REMOTE_DOMAIN_LIST_MAX is 16384)
opened = packet(REMOTE, 1, OPEN, payload=struct.pack(">II", 0, 0))
r = reply_status(exchange(opened + packet(REMOTE, 1, 344, serial=2,
                                         payload=struct.pack(">I", 0xffffffff)), replies=2))
ok(r and r[4] == 2 and r[5] == 1, "an array beyond its limit: an error reply")
# a header of random bytes with a sane length: an error reply or silence, never a crash
random_hdr = struct.pack(">I", 28) + bytes((i * 151 + 7) % 256 for i in range(24))
exchange(random_hdr * 3, read=False)
ok(exchange(struct.pack(">I", 0x7fffffff) + b"x" * 100) == b"",
   "a length beyond 32 MiB closes that connection")
ok(exchange(struct.pack(">I", 3)) == b"", "a length below a header closes that connection")
exchange(packet(REMOTE, 1, OPEN, length=1000)[:200], read=False)   # truncated, then gone
# 40 calls in one write, more than the 5 a client may have unanswered:
# they wait their turn, and every one is answered, in order.
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sock_path)
s.sendall(packet(REMOTE, 1, OPEN, payload=struct.pack(">II", 0, 0)) +
          b"".join(packet(REMOTE, 1, 273, serial=2 + i, payload=struct.pack(">iI", 1, 0))
                   for i in range(40)))
serials, buf = [], b""
try:
    while len(serials) < 41:
        while len(buf) < 4 or len(buf) < struct.unpack(">I", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        size = struct.unpack(">I", buf[:4])[0]
        h = reply_status(buf[:size])
        if h[5] == 0:
            serials.append(h[4])
        buf = buf[size:]
except (EOFError, socket.timeout):
    pass
s.close()
ok(serials == list(range(1, 42)), "41 pipelined calls: 41 replies in order (%d)" % len(serials))
r = reply_status(exchange(packet(REMOTE, 1, AUTH_LIST)))
ok(r and r[5] == 0, "after all that, another client is served (auth-list answers)")
conn2 = libvirt.open(uri)
ok(conn2.getHostname() != "", "and libvirt-python connects again")
conn2.close()
conn.close()
stop.set()
print("# python: %d checks" % n)
