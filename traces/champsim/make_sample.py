#!/usr/bin/env python3
"""Writes sample.champsim: 200 ChampSim input_instr records (64 bytes, little-endian), the same sequence
Emulator.Tests/Tracing/ForeignFormatTests.cs builds in memory; sample.champsim.xz is `xz -9 -k` of it."""
import struct

with open("sample.champsim", "wb") as f:
    for i in range(200):
        ip = 0x400000 + 4 * i
        dst = [0x600000 + 16 * i if i % 5 == 0 else 0, 0]
        src = [0x7FFD0000 + 8 * i if i % 3 == 0 else 0, 0x10000000 + i if i % 7 == 0 else 0, 0, 0]
        f.write(struct.pack("<QBB2B4B2Q4Q", ip, i % 2, 0, 0, 0, 1, 2, 3, 4, *dst, *src))
