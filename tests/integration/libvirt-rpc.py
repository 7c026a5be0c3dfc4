#!/usr/bin/python3
"""Part of test-libvirt-rpc.sh: libvirt-python against vmmd, and hostile
packets on vmmd's libvirt socket. Prints TAP lines without a plan (the
shell test owns the plan); argv: URI SOCKET DOMAIN_XML, or
console URI DOMAIN: `virsh console` on a pseudo-terminal (it wants one), or
network URI SOCKET NETWORK_XML (test-libvirt-network.sh): the network API,
its events and hostile network packets."""
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

network_mode = sys.argv[1] == "network"
if network_mode:
    del sys.argv[1]
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


def xdr_string(b):
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def error_code(r):
    """The virErrorNumber of an error reply (remote_error's first word)."""
    return struct.unpack(">i", r[28:32])[0] if len(r) >= 32 else None


libvirt.registerErrorHandler(lambda ctx, err: None, None)


def event_loop():
    """libvirt's default event loop in a thread, until the Event returned is
    set."""
    libvirt.virEventRegisterDefaultImpl()
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    return stop


def network_checks():
    """The network API of libvirt-python, its lifecycle events, and hostile
    packets for the network procedures."""
    stop = event_loop()
    events = []
    conn = libvirt.open(uri)
    cb = conn.networkEventRegisterAny(
        None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
        lambda c, n, ev, det, o: events.append((n.name(), ev, det)), None)
    with open(xml_path) as f:
        net = conn.networkDefineXML(f.read())
    ok(net.name() == "lab" and len(net.UUIDString()) == 36, "networkDefineXML returns the network")
    names = sorted(n.name() for n in conn.listAllNetworks())
    active = [n.name() for n in conn.listAllNetworks(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE)]
    ok(names == ["lab"] and active == [], "listAllNetworks: lab, not active (%s %s)"
       % (names, active))
    ok(conn.networkLookupByName("lab").UUID() == net.UUID() and
       conn.networkLookupByUUID(net.UUID()).name() == "lab" and
       conn.networkLookupByUUIDString(net.UUIDString()).name() == "lab",
       "networkLookupByName/UUID/UUIDString")
    ok(conn.listDefinedNetworks() == ["lab"] and conn.numOfNetworks() == 0 and
       conn.numOfDefinedNetworks() == 1, "the older list and count calls")
    ok(net.create() == 0 and net.isActive() == 1 and net.isPersistent() == 1,
       "create(): active, persistent")
    ok(conn.listNetworks() == ["lab"] and conn.numOfNetworks() == 1, "listNetworks: lab")
    ok(net.bridgeName() == "vmmlab0" and net.autostart() == 0, "bridgeName(), autostart()")
    xml = net.XMLDesc(0)
    ok("<name>lab</name>" in xml and "<bridge name='vmmlab0'" in xml, "XMLDesc(0)")
    # test-libvirt-network.sh's guest had a lease on the "lab" it undefined:
    # gone with it, as libvirt removes the leases of an undefined network
    leases = net.DHCPLeases()
    ok(leases == [], "DHCPLeases(): none, the old lab's went with it (%s)" % (leases,))
    host = "<host mac='52:54:00:00:00:31' name='h31' ip='10.123.0.31'/>"
    net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
               -1, host, libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE |
               libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG)
    ok("name='h31'" in net.XMLDesc(0) and
       "name='h31'" in net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE),
       "update(ADD_LAST, IP_DHCP_HOST, live|config)")
    try:
        net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                   3, host, 0)
        ok(False, "update() with parentIndex 3 fails")
    except libvirt.libvirtError as e:
        ok("parentIndex 3" in str(e), "update() with parentIndex 3: a clear error (%s)" % e)
    ok(net.destroy() == 0 and net.isActive() == 0, "destroy(): inactive")
    ok(net.undefine() == 0, "undefine()")
    try:
        conn.networkLookupByName("lab")
        ok(False, "networkLookupByName after undefine fails")
    except libvirt.libvirtError as e:
        ok(e.get_error_code() == libvirt.VIR_ERR_NO_NETWORK,
           "networkLookupByName after undefine: VIR_ERR_NO_NETWORK (%s)" % e)
    try:
        conn.networkDefineXML("<network><name>x</name><ip address='10.0.0.0' prefix='24'/>"
                              "</network>")
        ok(False, "networkDefineXML of a bad definition fails")
    except libvirt.libvirtError as e:
        ok(e.get_error_code() == libvirt.VIR_ERR_XML_ERROR,
           "networkDefineXML of a bad definition: VIR_ERR_XML_ERROR (%s)" % e)
    want = [("lab", libvirt.VIR_NETWORK_EVENT_DEFINED, 0),
            ("lab", libvirt.VIR_NETWORK_EVENT_STARTED, 0),
            ("lab", libvirt.VIR_NETWORK_EVENT_STOPPED, 0),
            ("lab", libvirt.VIR_NETWORK_EVENT_UNDEFINED, 0)]
    for _ in range(100):
        if len(events) >= len(want):
            break
        stop.wait(0.1)
    ok(events == want, "network lifecycle events: defined, started, stopped, undefined (%s)"
       % events)
    conn.networkEventDeregisterAny(cb)

    # hostile packets for the network procedures, on an opened connection
    opened = packet(REMOTE, 1, OPEN, payload=struct.pack(">II", 0, 0))

    def call(proc, payload):
        r = exchange(opened + packet(REMOTE, 1, proc, serial=2, payload=payload), replies=2)
        h = reply_status(r)
        return (h[4], h[5], error_code(r)) if h else None
    nosuch = xdr_string(b"nosuch") + b"\0" * 16
    ok(call(46, struct.pack(">I", 0xffffffff)) == (2, 1, 39),
       "lookup-by-name with a 4 GiB name: an RPC error reply")
    ok(call(291, nosuch + struct.pack(">I", 3)) == (2, 1, 39),
       "network update, truncated: an RPC error reply")
    ok(call(43, nosuch + struct.pack(">II", 0, 0)) == (2, 1, 39),
       "get-xml-desc with 4 bytes too many: an RPC error reply")
    ok(call(341, nosuch + struct.pack(">IiI", 0, 1, 0)) == (2, 1, 43),
       "DHCP leases of an unknown network: VIR_ERR_NO_NETWORK")
    ok(call(38, struct.pack(">i", -1)) == (2, 1, 39), "list-networks with maxnames -1: an error")
    ok(call(41, xdr_string(b"<network><name>x")) == (2, 1, 27),
       "define of broken XML: VIR_ERR_XML_ERROR")
    ok(call(291, nosuch + struct.pack(">IIi", 9, 4, -1) + xdr_string(b"<host/>") +
            struct.pack(">I", 0)) == (2, 1, 8), "network update with command 9: invalid argument")
    ok(call(313, struct.pack(">iI", 7, 0)) == (2, 1, 3), "network event 7: not supported")
    ok(call(353, xdr_string(b"nosuch") + b"\0" * 16 + struct.pack(">iII", -1, 0, 0)) ==
       (2, 1, 42), "interface addresses of an unknown domain: VIR_ERR_NO_DOMAIN")
    # The server filters a registration by its network: on one connection,
    # one registration for every network and one for a network that does
    # not exist; a define and an undefine bring two events, both for the
    # first. The events go out as the changes happen, so they are in the
    # stream before the reply to a call made after them.
    raw = socket.socket(socket.AF_UNIX)
    raw.settimeout(10)
    raw.connect(sock_path)
    raw.sendall(opened + packet(REMOTE, 1, 313, serial=2, payload=struct.pack(">iI", 0, 0)) +
                packet(REMOTE, 1, 313, serial=3, payload=struct.pack(">iI", 0, 1) + nosuch))
    buf = b""

    def next_packet():
        nonlocal buf
        while len(buf) < 4 or len(buf) < struct.unpack(">I", buf[:4])[0]:
            chunk = raw.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        size = struct.unpack(">I", buf[:4])[0]
        p, buf = buf[:size], buf[size:]
        return p
    ids = []
    for _ in range(3):
        p = next_packet()
        if reply_status(p)[4] in (2, 3):
            ids.append(struct.unpack(">i", p[28:32])[0])
    tmp = conn.networkDefineXML("<network><name>evf</name><bridge name='vmmevf0'/>"
                                "<ip address='10.127.0.1' prefix='24'/></network>")
    tmp.undefine()
    raw.sendall(packet(REMOTE, 1, 283, serial=4, payload=struct.pack(">iI", 0, 0)))
    got = []
    while True:
        p = next_packet()
        h = reply_status(p)
        if h[2] == 283:
            break
        got.append(struct.unpack(">i", p[28:32])[0] if h[2] == 315 else None)
    raw.close()
    ok(len(ids) == 2 and got == [ids[0], ids[0]],
       "network events: a registration filtered by a network gets only its events "
       "(callbacks %s, events for %s)" % (ids, got))
    ok(conn.getHostname() != "" and conn.listAllNetworks() == [],
       "after the hostile packets the connection still answers")
    conn.close()
    stop.set()
    print("# python: %d checks" % n)


if network_mode:
    network_checks()
    sys.exit(0)

# --- libvirt-python: define, start, events, stats, shut down ---------------
stop = event_loop()
events = []
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
