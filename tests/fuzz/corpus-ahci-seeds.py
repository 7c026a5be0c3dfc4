#!/usr/bin/env python3
"""Writes the ncq-error-log seed of tests/fuzz/corpus-ahci (input format:
the comment at the top of fuzz-ahci.c): port 0 set up as libahci does,
four queued reads with tag 2 past the end of the disk, the port restart,
a command the drive aborts in its NCQ error condition, READ LOG DMA EXT
of page 10h, READ LOG EXT of the directory, and the queue again. Run from
the source tree:
    python3 tests/fuzz/corpus-ahci-seeds.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-ahci")
ABAR, RAM, PORTREG = 0, 2, 3
SECTORS = 2048                      # fuzz-ahci.c's sda: 1 MiB
CLB, FB = 0x1000, 0x1400
PX_IS, PX_CMD, PX_SACT, PX_CI = 0x10, 0x18, 0x34, 0x38


def ct(slot):
    return 0x2000 + 0x100 * slot


def buf(slot):
    return 0x8000 + 0x1000 * slot


class Seed:
    def __init__(self):
        self.b = bytearray()

    def rec(self, where, write, off, val, size=4):
        self.b += struct.pack("<BBHI", where << 1 | write, {1: 0, 2: 1, 4: 2, 8: 3}[size],
                              off, val & 0xffffffff)

    def ram(self, addr, data):
        data = bytes(data) + bytes(-len(data) % 4)
        for i in range(0, len(data), 4):
            self.rec(RAM, 1, addr + i, struct.unpack_from("<I", data, i)[0])

    def port(self, reg, val):
        self.rec(PORTREG, 1, reg, val)      # port 0

    def read(self, off):
        self.rec(ABAR, 0, off, 0)

    def command(self, slot, cmd, lba, count, feature, nbytes):
        fis = bytearray(20)
        fis[0:4] = bytes([0x27, 0x80, cmd, feature & 0xff])
        fis[4:8] = bytes([lba & 0xff, lba >> 8 & 0xff, lba >> 16 & 0xff, 0x40])
        fis[8:12] = bytes([lba >> 24 & 0xff, lba >> 32 & 0xff, lba >> 40 & 0xff, feature >> 8])
        fis[12:14] = bytes([count & 0xff, count >> 8])
        self.ram(ct(slot), fis)
        self.ram(ct(slot) + 0x80, struct.pack("<IIII", buf(slot), 0, 0, nbytes - 1))
        self.ram(CLB + 32 * slot, struct.pack("<IIII", 5 | 1 << 16, 0, ct(slot), 0))

    def ncq_read(self, slot, lba):
        self.command(slot, 0x60, lba, slot << 3, 8, 4096)

    def restart(self):
        self.port(PX_CMD, 0x16)
        self.port(PX_IS, 0xffffffff)
        self.port(PX_CMD, 0x17)


def ncq_error_log():
    s = Seed()
    s.port(0x00, CLB)
    s.port(0x08, FB)
    s.port(PX_CMD, 0x16)                # FRE, POD, SUD: the link comes up
    s.port(PX_CMD, 0x17)
    for t in range(4):
        s.ncq_read(t, SECTORS - 4 if t == 2 else 100 + 8 * t)
    s.port(PX_SACT, 0xf)
    s.port(PX_CI, 0xf)
    s.read(0x100 + PX_IS)
    s.restart()
    s.command(0, 0xc8, 100, 8, 0, 4096)  # aborted: the log was not read
    s.port(PX_CI, 1)
    s.restart()
    s.command(0, 0x47, 0x10, 1, 0, 512)  # READ LOG DMA EXT, page 10h
    s.port(PX_CI, 1)
    s.command(0, 0x2f, 0x00, 1, 0, 512)  # READ LOG EXT, the directory
    s.port(PX_CI, 1)
    for t in range(4):
        s.ncq_read(t, 200 + 8 * t)
    s.port(PX_SACT, 0xf)
    s.port(PX_CI, 0xf)
    return s.b


if __name__ == "__main__":
    with open(os.path.join(OUT, "ncq-error-log"), "wb") as f:
        f.write(ncq_error_log())
