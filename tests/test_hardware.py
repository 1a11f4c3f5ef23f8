"""CPU detection: flags are read, never assumed; bf16 is native only with AVX512-BF16 or AMX-BF16."""

from __future__ import annotations

from tegur.hardware import REPORTED_FLAGS, cpu_flags, native_bf16, reported_flags
from training.config import TrainingConfig


def test_native_bf16_needs_the_flag() -> None:
    assert native_bf16(frozenset({"avx2", "avx512f", "avx512_bf16"}))
    assert native_bf16(frozenset({"amx_bf16"}))
    assert not native_bf16(frozenset({"avx2", "avx512f", "avx512_vnni"}))
    assert not native_bf16(frozenset())


def test_reported_flags_cover_the_list_and_read_this_machine() -> None:
    report = reported_flags(frozenset({"avx2"}))
    assert list(report) == list(REPORTED_FLAGS) and report["avx2"] and not report["avx512_bf16"]
    assert isinstance(cpu_flags(), frozenset)


def test_training_bf16_accepts_auto() -> None:
    assert TrainingConfig(bf16="auto").bf16 == "auto"
    assert TrainingConfig(bf16=True).bf16 is True
