#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz_vhost (see fuzz/fuzz_vhost.c for the input format):
a full handshake with rings and a good tx/rx chain, the same with a descriptor loop,
and a stream cut by a malformed message. Usage: gen_vhost_seeds.py fuzz/corpus/fuzz_vhost"""
import struct
import sys

GPA, UVA, SIZE = 0x100000, 0x7F0000000000, 65536


def msg(req, payload=b"", nfds=0, flags=1):
    return bytes([nfds]) + struct.pack("<III", req, flags, len(payload)) + payload


def state(i, n):
    return struct.pack("<II", i, n)


def handshake():
    m = msg(3) + msg(1) + msg(2, struct.pack("<Q", (1 << 15) | (1 << 30) | (1 << 32)))
    m += msg(15) + msg(16, struct.pack("<Q", 1 << 3))
    m += msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", GPA, SIZE, UVA, 0), nfds=1)
    for q in (0, 1):
        base = q * 0x4000
        m += msg(8, state(q, 16)) + msg(10, state(q, 0))
        m += msg(9, struct.pack("<IIQQQQ", q, 0, UVA + base, UVA + base + 0x2000, UVA + base + 0x1000, 0))
        m += msg(12, struct.pack("<Q", q), nfds=1) + msg(13, struct.pack("<Q", q | 0x100))
        m += msg(18, state(q, 1), flags=9)
    return m


def guest(loop=False):
    g = bytearray(SIZE)
    # rx (vring 0): one 2 KiB writable buffer
    struct.pack_into("<QIHH", g, 0, GPA + 0xA000, 2048, 2, 0)
    struct.pack_into("<HHH", g, 0x1000, 0, 1, 0)
    # tx (vring 1): header + 60-byte frame, or a two-descriptor loop
    struct.pack_into("<QIHH", g, 0x4000, GPA + 0x8000, 72, 1 if loop else 0, 1 if loop else 0)
    struct.pack_into("<QIHH", g, 0x4010, GPA + 0x8000, 12, 1, 0)
    struct.pack_into("<HHH", g, 0x5000, 0, 1, 0)
    return bytes(g[:0xB000])


def seed(m, g):
    return struct.pack("<H", len(m)) + m + g


out = sys.argv[1]
hs = handshake()
open(f"{out}/handshake-good", "wb").write(seed(hs, guest()))
open(f"{out}/handshake-loop", "wb").write(seed(hs, guest(loop=True)))
open(f"{out}/bad-message", "wb").write(seed(msg(1) + msg(8, state(0, 300)) + msg(5, b"\0" * 7), b""))
