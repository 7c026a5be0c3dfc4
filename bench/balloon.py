#!/usr/bin/env python3
"""One round of the balloon benchmark (bench/balloon.sh runs the rounds).

usage: balloon.py VMM OUTDIR ROUND   (VMM: vmmd | qemu; BUILDDIR, MEM_MIB,
       BALLOON_MIB, TOUCH_MIB, QEMU_ACCEL from the environment)

Boots the guest kit's test=balloon (touch_mib, handshake=1) on vmm-worker or
on qemu-system-x86_64 (microvm, virtio-balloon-pci, RAM a shared memfd as
in the worker), waits for {"balloon":"ready"}, then sets the target to
BALLOON_MIB in the balloon (vmm-worker's set-memory; QMP's balloon) and
times until the guest reports that many pages in it; then the target back
to none, timed until it reports 0. The process's VmRSS is sampled every
20 ms from the inflate command on. Writes OUTDIR/VMM-ROUND.rss (seconds,
MiB) and prints one line:
    VMM inflate_ms deflate_ms rss_before_mib rss_inflated_mib rss_deflated_mib ok
where ok says the guest's balloon checks passed (balloon_stats aside: no
statistics are polled, on either side). Asserts nothing."""
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time

vmm, outdir, rnd = sys.argv[1], sys.argv[2], sys.argv[3]
builddir = os.environ["BUILDDIR"]
mem_mib = int(os.environ.get("MEM_MIB", "1280"))
balloon_mib = int(os.environ.get("BALLOON_MIB", "1024"))
touch_mib = int(os.environ.get("TOUCH_MIB", "1100"))
accel = os.environ.get("QEMU_ACCEL", "kvm")
kit = os.path.join(builddir, "tests/guest/guestkit.elf")
cmdline = "test=balloon touch_mib=%d step_mib=64 handshake=1" % touch_mib
pages = balloon_mib * 256
tmp = tempfile.mkdtemp(prefix="bench-balloon-")
sock = os.path.join(tmp, "ctl.sock")

if vmm == "vmmd":
    xml = os.path.join(tmp, "d.xml")
    with open(xml, "w") as f:
        f.write(f"""<domain type='kvm'>
  <name>bench-balloon</name>
  <memory unit='MiB'>{mem_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>{kit}</kernel><cmdline>{cmdline}</cmdline></os>
  <features><acpi/><apic/></features>
  <on_reboot>destroy</on_reboot>
  <devices>
    <serial type='stdio'><target port='0'/></serial>
    <memballoon model='virtio'/>
  </devices>
</domain>
""")
    cmd = [os.path.join(builddir, "src/vmm-worker"), "--xml", xml, "--control-socket", sock]
else:
    # -cpu qemu64: on PVM hosts "-cpu host" asks for MSRs the host refuses.
    cmd = ["qemu-system-x86_64", "-M", "microvm,pcie=on,rtc=on,memory-backend=mem",
           "-object", f"memory-backend-memfd,id=mem,size={mem_mib}M,share=on",
           "-accel", accel, "-cpu", "qemu64", "-m", str(mem_mib), "-smp", "1",
           "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
           "-kernel", kit, "-append", cmdline,
           "-device", "virtio-balloon-pci,disable-legacy=on",
           "-qmp", f"unix:{sock},server=on,wait=off"]

errlog = open(os.path.join(outdir, f"{vmm}-{rnd}.stderr"), "w")
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errlog, stdin=subprocess.DEVNULL)
lines = queue.Queue()
done = {"ok": None}


def reader():
    log = open(os.path.join(outdir, f"{vmm}-{rnd}.out"), "w")
    for raw in proc.stdout:
        s = raw.decode(errors="replace")
        log.write(s)
        j = s.find("{")
        if "guestkit:" not in s or j < 0:
            continue
        try:
            o = json.loads(s[j:])
        except ValueError:
            continue
        # balloon_stats fails by design: neither VMM polls statistics here
        if "check" in o and not o.get("ok") and o["check"] != "balloon_stats":
            done["bad"] = o["check"]
        if o.get("done"):
            done["ok"] = "bad" not in done
        lines.put((time.monotonic(), o))
    log.close()
    lines.put((time.monotonic(), None))


def rss_mib():
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1]) / 1024.0
    except OSError:
        pass
    return None


samples = []
sampling = threading.Event()
stop = threading.Event()


def sampler():
    while not stop.is_set():
        if sampling.is_set():
            r = rss_mib()
            if r is not None:
                samples.append((time.monotonic(), r))
        time.sleep(0.02)


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while True:
        try:
            t, o = lines.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            return None
        if o is None:
            return None
        if pred(o):
            return t


class Control:
    """vmm-worker's control socket or QMP: one JSON object per line."""

    def __init__(self):
        for _ in range(200):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(sock)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile("rwb")
        self.f.readline()                       # greeting
        if vmm == "qemu":
            self.call("qmp_capabilities", {})

    def call(self, cmd, args):
        self.f.write((json.dumps({"execute": cmd, "arguments": args}) + "\n").encode())
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "return" in r or "error" in r:
                if "error" in r:
                    print(f"# {vmm}: {cmd}: {r['error']}", file=sys.stderr)
                return r

    def target(self, balloon_pages):
        """balloon_pages in the balloon: memory left = total - that."""
        if vmm == "vmmd":
            return self.call("set-memory", {"size_kib": mem_mib * 1024 - balloon_pages * 4})
        return self.call("balloon", {"value": mem_mib * 1048576 - balloon_pages * 4096})


threading.Thread(target=reader, daemon=True).start()
threading.Thread(target=sampler, daemon=True).start()
res = [vmm, "-", "-", "-", "-", "-", "fail"]
try:
    if wait_for(lambda o: o.get("balloon") == "ready", 600) is not None:
        ctl = Control()
        rss0 = rss_mib()
        sampling.set()
        t0 = time.monotonic()
        ctl.target(pages)
        t1 = wait_for(lambda o: o.get("balloon") == "step" and o.get("actual") == pages, 600)
        time.sleep(0.3)                         # let the last discards settle
        rss1 = rss_mib()
        time.sleep(0.7)                         # a plateau in the curve
        t2 = time.monotonic()
        ctl.target(0)
        t3 = wait_for(lambda o: o.get("balloon") == "step" and o.get("actual") == 0, 600)
        time.sleep(0.3)
        rss2 = rss_mib()
        time.sleep(0.7)
        sampling.clear()
        wait_for(lambda o: o.get("balloon") == "reused", 600)
        ctl.target(1)                           # the guest's cue to end
        wait_for(lambda o: o.get("done"), 120)
        if t1 is not None and t3 is not None:
            res = [vmm, "%.0f" % ((t1 - t0) * 1000), "%.0f" % ((t3 - t2) * 1000),
                   "%.0f" % rss0, "%.0f" % rss1, "%.0f" % rss2,
                   "ok" if done["ok"] else "failed:" + done.get("bad", "no-done")]
        with open(os.path.join(outdir, f"{vmm}-{rnd}.rss"), "w") as f:
            for t, r in samples:
                f.write("%.3f %.1f\n" % (t - t0, r))
finally:
    stop.set()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    errlog.close()
    for p in (sock, os.path.join(tmp, "d.xml")):
        if os.path.exists(p):
            os.unlink(p)
    os.rmdir(tmp)
print(" ".join(res))
