"""What the machine's CPU can do: its ISA flags, and whether bfloat16 runs natively.

The machines Tegur is developed and served on differ from day to day (AVX2-only vs AVX-512 with VNNI,
BF16 or AMX). bf16 autocast is several times faster than fp32 where the CPU has native bf16 and several
times slower where it does not, so every choice of precision is made by detection, not by assumption.
"""

from __future__ import annotations

import functools
from pathlib import Path

#: Flags worth reporting next to any speed figure.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's flags from /proc/cpuinfo (empty where that file does not exist)."""
    path = Path("/proc/cpuinfo")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def reported_flags(flags: frozenset[str] | None = None) -> dict[str, bool]:
    """:data:`REPORTED_FLAGS` -> present, for benchmark output."""
    flags = cpu_flags() if flags is None else flags
    return {name: name in flags for name in REPORTED_FLAGS}


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & flags)
