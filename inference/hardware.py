"""What this CPU can do: the instruction-set flags that decide which precision runs fast.

Detected, never assumed: the same artifact is served on AVX-512 machines with native bf16 and on
AVX2-only ones, where bf16 autocast is several times *slower* than fp32 and int8 matmuls lack VNNI.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import lru_cache

#: The flags that matter for inference, in the names ``/proc/cpuinfo`` uses.
ISA_FLAGS: tuple[str, ...] = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


@dataclass(frozen=True)
class CpuInfo:
    """The CPU model name and which of :data:`ISA_FLAGS` it has."""

    model: str
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """bf16 matmuls in hardware (AVX512-BF16 or AMX): the only CPUs where bf16 can beat fp32."""
        return bool({"avx512_bf16", "amx_bf16"} & self.flags)

    @property
    def int8_dot_product(self) -> bool:
        """VNNI (AVX512-VNNI or AMX-INT8): int8 matmuls without the u8*s8 overflow of plain AVX2."""
        return bool({"avx512_vnni", "amx_int8"} & self.flags)

    def describe(self) -> dict[str, object]:
        """For reports: the model name and each ISA flag as a bool."""
        return {"model": self.model, **{flag: flag in self.flags for flag in ISA_FLAGS}}


def parse_cpuinfo(text: str) -> CpuInfo:
    """Read the first processor's model name and flags from ``/proc/cpuinfo`` text."""
    model, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split()) & frozenset(ISA_FLAGS)
    return CpuInfo(model=model or platform.processor(), flags=flags)


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU (Linux: ``/proc/cpuinfo``; elsewhere no flags, so nothing is assumed)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return parse_cpuinfo(fh.read())
    except OSError:
        return CpuInfo(model=platform.processor(), flags=frozenset())
