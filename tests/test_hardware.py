"""CPU feature detection: flags are read, never assumed."""

from __future__ import annotations

from inference.hardware import ISA_FLAGS, CpuInfo, cpu_info, parse_cpuinfo

AVX512_CPU = """processor\t: 0
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 sha_ni

processor\t: 1
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 sha_ni
"""
AVX2_CPU = "processor : 0\nmodel name : AMD EPYC 7R13 Processor\nflags : fpu sse2 avx2 fma\n"


def test_avx512_bf16_cpu_has_native_bf16_and_vnni() -> None:
    info = parse_cpuinfo(AVX512_CPU)
    assert info.model == "AMD EPYC 9R14 96-Core Processor"
    assert info.flags == {"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}
    assert info.native_bf16 and info.int8_dot_product


def test_avx2_only_cpu_has_neither() -> None:
    info = parse_cpuinfo(AVX2_CPU)
    assert info.flags == {"avx2"}
    assert not info.native_bf16 and not info.int8_dot_product
    assert info.describe() == {
        "model": "AMD EPYC 7R13 Processor",
        **dict.fromkeys(ISA_FLAGS, False),
        "avx2": True,
    }


def test_amx_counts_as_native_bf16_and_int8() -> None:
    info = CpuInfo(model="x", flags=frozenset({"amx_bf16", "amx_int8"}))
    assert info.native_bf16 and info.int8_dot_product


def test_this_machine_is_described() -> None:
    described = cpu_info().describe()
    assert set(described) == {"model", *ISA_FLAGS}


def test_training_bf16_accepts_auto() -> None:
    from training.config import TrainingConfig

    assert TrainingConfig(bf16="auto").bf16 == "auto"
    assert TrainingConfig(bf16=True).bf16 is True
