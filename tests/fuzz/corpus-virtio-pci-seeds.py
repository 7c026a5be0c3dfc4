#!/usr/bin/env python3
"""Writes the balloon-* and rng-* seeds of tests/fuzz/corpus-virtio-pci
(input format: the comment at the top of fuzz-virtio-pci.c). Each seed
drives a device the way a driver does - features, queues, DRIVER_OK - then
posts requests, valid and hostile, and kicks. Run from the source tree:
    python3 tests/fuzz/corpus-virtio-pci-seeds.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-virtio-pci")
COMMON, NOTIFY, DEVCFG, RAM = 2, 3, 5, 6
QSIZE = 16


class Seed:
    def __init__(self, dev):
        self.b = bytearray([dev])

    def w(self, where, off, val, size):
        self.b += struct.pack("<BBHI", where << 1 | 1, {1: 0, 2: 1, 4: 2, 8: 3}[size],
                              off, val & 0xffffffff)

    def ram32(self, addr, val):
        self.w(RAM, addr, val, 4)

    def ram16(self, addr, val):
        self.w(RAM, addr, val, 2)

    def desc(self, ring, i, addr, length, flags, nxt=0):
        d = ring + 16 * i
        self.ram32(d, addr)
        self.ram32(d + 4, addr >> 32)
        self.ram32(d + 8, length)
        self.ram16(d + 12, flags)
        self.ram16(d + 14, nxt)

    def avail(self, ring, heads, start=0):
        a = ring + 0x100
        for k, h in enumerate(heads):
            self.ram16(a + 4 + 2 * ((start + k) % QSIZE), h)
        self.ram16(a + 2, start + len(heads))

    def init(self, features_lo, nq):
        self.w(COMMON, 20, 0, 1)            # reset
        self.w(COMMON, 20, 1, 1)            # ACKNOWLEDGE
        self.w(COMMON, 20, 3, 1)            # DRIVER
        self.w(COMMON, 8, 0, 4)
        self.w(COMMON, 12, features_lo, 4)
        self.w(COMMON, 8, 1, 4)
        self.w(COMMON, 12, 1, 4)            # VERSION_1
        self.w(COMMON, 20, 0xb, 1)          # FEATURES_OK
        for q in range(nq):
            ring = 0x1000 * (q + 1)
            self.w(COMMON, 22, q, 2)
            self.w(COMMON, 24, QSIZE, 2)
            self.w(COMMON, 32, ring, 4)
            self.w(COMMON, 40, ring + 0x100, 4)
            self.w(COMMON, 48, ring + 0x200, 4)
            self.w(COMMON, 28, 1, 2)
        self.w(COMMON, 20, 0xf, 1)          # DRIVER_OK

    def kick(self, q):
        self.w(NOTIFY, 4 * q, q, 2)

    def save(self, name):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(self.b)


def pfns(s, addr, values):
    for i, v in enumerate(values):
        s.ram32(addr + 4 * i, v)


# virtio-balloon: inflate valid, duplicate and out-of-RAM frames; deflate one
# given and one never given; answer the stats buffer with a bogus tag; report
# a free range; write `actual`.
s = Seed(3)
s.init(0x2 | 0x4 | 0x20, 4)
pfns(s, 0x6000, [8, 9, 9, 0xffffffff, 0x10, 0xc0000])
s.desc(0x1000, 0, 0x6000, 24, 0)
s.avail(0x1000, [0])
s.kick(0)
pfns(s, 0x6100, [9, 12])
s.desc(0x2000, 0, 0x6100, 8, 0)
s.avail(0x2000, [0])
s.kick(1)
for i, (tag, val) in enumerate([(4, 0x100000), (5, 0x10000), (0xbeef, 1)]):
    s.w(RAM, 0x6200 + 10 * i, tag, 2)
    s.ram32(0x6200 + 10 * i + 2, val)
s.desc(0x3000, 0, 0x6200, 30, 0)
s.avail(0x3000, [0])
s.kick(2)
s.desc(0x4000, 0, 0xa000, 0x2000, 2, 1)
s.desc(0x4000, 1, 0xe800, 0x1000, 2 | 0)   # unaligned: partly outside RAM's end
s.ram16(0x4000 + 12, 3)                     # chain the two
s.avail(0x4000, [0])
s.kick(3)
s.w(DEVCFG, 4, 2, 4)
s.save("balloon-queues")

# virtio-balloon without the optional queues, then a reset with pages
# inflated and the device set up again.
s = Seed(3)
s.init(0, 2)
pfns(s, 0x6000, list(range(4, 16)))
s.desc(0x1000, 0, 0x6000, 48, 0)
s.desc(0x1000, 1, 0x6000, 0x7000, 0)        # past the end of RAM
s.avail(0x1000, [0, 1])
s.kick(0)
s.w(COMMON, 20, 0, 1)
s.init(0x2, 3)
s.desc(0x1000, 0, 0x6000, 48, 0)
s.avail(0x1000, [0])
s.kick(0)
s.save("balloon-reset")

# virtio-rng: a writable buffer, a read-only one, one split over two
# descriptors, then one outside RAM (the device needs a reset).
for dev, name in ((4, "rng-builtin-rate"), (5, "rng-urandom")):
    s = Seed(dev)
    s.init(0, 1)
    s.desc(0x1000, 0, 0x8000, 512, 2)
    s.desc(0x1000, 1, 0x8400, 64, 0)
    s.desc(0x1000, 2, 0x8800, 100, 2 | 1, 3)
    s.desc(0x1000, 3, 0x8900, 200, 2)
    s.desc(0x1000, 4, 0x7f0000000000, 64, 2)
    s.avail(0x1000, [0, 1, 2, 0, 4])
    s.kick(0)
    s.save(name)
