"""Trim a multilingual vocabulary to what Indonesian moderation text uses, without losing any character.

multilingual-e5-small's 250k-token table is 96M of its 118M parameters; the normalised corpora use
about 16k of those tokens. :func:`trim_vocabulary` keeps

* the special tokens,
* every token the tokenizer produces on the given corpus (the train split, plus unlabelled text),
* every single-character token outside the CJK blocks (alphabetic scripts, digits, punctuation,
  symbols, emoji; CJK ideographs, kana, Hangul and Yi only where the corpus has them: they are most of
  the 13.8k single-character tokens of XLM-R), so that a word the corpus never had still splits into
  pieces that exist instead of becoming ``<unk>``,

and rebuilds the tokenizer with ids renumbered in the old order (specials keep theirs). For text of the
corpus the segmentation is exactly the old one: the old best segmentation only uses kept tokens, and
removing others cannot produce a better one (Unigram's best-score path, WordPiece's longest match).
:func:`unk_report` measures what the trim costs on held-out text: ``<unk>`` rate and tokens per
message before and after, and how many messages would decode to other text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tegur.errors import ConfigError

#: Code-point ranges whose single-character tokens are kept only when the corpus uses them: CJK
#: radicals to Yi (kana, ideographs), Hangul syllables, CJK compatibility ideographs, and the
#: supplementary ideograph planes. Every other single character is always kept.
CORPUS_ONLY_CHARS: tuple[tuple[int, int], ...] = (
    (0x2E80, 0xA4CF),
    (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
)
_WORDPIECE_PREFIX = "##"
_METASPACE = "\u2581"


@dataclass(frozen=True)
class TrimmedVocabulary:
    """The rebuilt tokenizer and, per new id, the old id it came from."""

    tokenizer: Any
    old_ids: list[int]

    @property
    def size(self) -> int:
        return len(self.old_ids)


def _always_kept_char(piece: str, model_type: str) -> bool:
    if model_type == "WordPiece" and piece.startswith(_WORDPIECE_PREFIX):
        piece = piece[len(_WORDPIECE_PREFIX) :]
    if model_type == "Unigram" and piece == _METASPACE:
        return True
    return len(piece) == 1 and not any(low <= ord(piece) <= high for low, high in CORPUS_ONLY_CHARS)


def _pieces(model: dict[str, Any]) -> list[str]:
    if model["type"] == "Unigram":
        return [piece for piece, _score in model["vocab"]]
    if model["type"] == "WordPiece":
        by_id = sorted(model["vocab"].items(), key=lambda item: item[1])
        return [piece for piece, _id in by_id]
    raise ConfigError(
        f"cannot trim a {model['type']} tokenizer; vocabulary trimming supports Unigram (XLM-R, e5) and "
        "WordPiece (BERT) tokenizers: set distill.trim_vocabulary: false"
    )


def used_token_ids(tokenizer: Any, texts: Iterable[str], max_length: int, chunk: int = 4096) -> set[int]:
    """Every id the tokenizer produces on ``texts`` (truncated as the model sees them)."""
    from inference.predictor import TextEncoder

    encoder = TextEncoder.from_pretrained(tokenizer, max_length)
    used: set[int] = set()
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == chunk:
            used.update(i for ids in encoder.encode(batch) for i in ids)
            batch = []
    used.update(i for ids in encoder.encode(batch) for i in ids)
    return used


def trim_vocabulary(tokenizer: Any, texts: Iterable[str], max_length: int) -> TrimmedVocabulary:
    """A tokenizer keeping only the tokens ``texts`` use, every special token and every common character.

    ``tokenizer`` is a transformers fast tokenizer; so is the result (same special tokens and settings).
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec["model"]
    pieces = _pieces(model)
    special = {token["id"] for token in spec.get("added_tokens", [])}
    keep = used_token_ids(tokenizer, texts, max_length) | special
    keep |= {i for i, piece in enumerate(pieces) if _always_kept_char(piece, model["type"])}
    old_ids = sorted(keep)
    new_id = {old: new for new, old in enumerate(old_ids)}

    if model["type"] == "Unigram":
        model["vocab"] = [model["vocab"][old] for old in old_ids]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    else:
        model["vocab"] = {pieces[old]: new for new, old in enumerate(old_ids)}
    for token in spec.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    _renumber_post_processor(spec.get("post_processor"), new_id)

    rebuilt = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        model_max_length=tokenizer.model_max_length,
        model_input_names=list(tokenizer.model_input_names),
        **{
            name: str(value) for name, value in tokenizer.special_tokens_map.items() if isinstance(value, str)
        },
    )
    return TrimmedVocabulary(tokenizer=rebuilt, old_ids=old_ids)


def _renumber_post_processor(processor: dict[str, Any] | None, new_id: dict[int, int]) -> None:
    """Special-token ids inside the post-processor (``<s> ... </s>``) follow the renumbering."""
    if not processor:
        return
    if processor.get("type") == "Sequence":
        for inner in processor.get("processors", []):
            _renumber_post_processor(inner, new_id)
        return
    for token in (processor.get("special_tokens") or {}).values():
        token["ids"] = [new_id[i] for i in token["ids"]]
    for key in ("sep", "cls"):
        if isinstance(processor.get(key), list):
            processor[key] = [processor[key][0], new_id[processor[key][1]]]


def trim_embeddings(model: Any, old_ids: Sequence[int]) -> None:
    """Keep only the rows ``old_ids`` of the word-embedding table, in that order; renumber the config."""
    import torch

    embeddings = model.bert.embeddings.word_embeddings
    index = torch.tensor(list(old_ids), dtype=torch.long)
    table = embeddings.weight.detach().index_select(0, index).clone()
    trimmed = torch.nn.Embedding(len(old_ids), table.shape[1], padding_idx=None)
    trimmed.weight = torch.nn.Parameter(table, requires_grad=embeddings.weight.requires_grad)
    model.bert.embeddings.word_embeddings = trimmed
    new_id = {old: new for new, old in enumerate(old_ids)}
    model.config.vocab_size = len(old_ids)
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        old = getattr(model.config, name, None)
        if old is not None:
            if old not in new_id:
                raise ConfigError(f"{name} {old} is not among the kept tokens; keep the special tokens")
            setattr(model.config, name, new_id[old])


def unk_report(
    full: Any, trimmed: TrimmedVocabulary, texts: Sequence[str], max_length: int
) -> dict[str, float | int]:
    """What trimming costs on ``texts`` (held-out): ``<unk>`` rates, tokens per message, changed text.

    ``changed_text`` counts messages whose trimmed tokens decode to other text than the full
    vocabulary's (characters lost); ``resegmented`` those split into other (smaller) pieces.
    """
    from inference.predictor import TextEncoder

    before = TextEncoder.from_pretrained(full, max_length).encode(texts)
    after = TextEncoder.from_pretrained(trimmed.tokenizer, max_length).encode(texts)
    old_ids = np.asarray(trimmed.old_ids)
    unk_full, unk_trim = full.unk_token_id, trimmed.tokenizer.unk_token_id
    changed = resegmented = 0
    for b, a in zip(before, after, strict=True):
        mapped = old_ids[a].tolist() if a else []
        if mapped != b:
            resegmented += 1
            decoded_before = full.decode(b, skip_special_tokens=True)
            decoded_after = trimmed.tokenizer.decode(a, skip_special_tokens=True)
            changed += decoded_before != decoded_after
    tokens_before = sum(map(len, before))
    tokens_after = sum(map(len, after))
    return {
        "messages": len(texts),
        "vocab_before": len(full),
        "vocab_after": trimmed.size,
        "unk_rate_before": sum(row.count(unk_full) for row in before) / max(1, tokens_before),
        "unk_rate_after": sum(row.count(unk_trim) for row in after) / max(1, tokens_after),
        "messages_with_unk_before": sum(unk_full in row for row in before),
        "messages_with_unk_after": sum(unk_trim in row for row in after),
        "tokens_per_message_before": tokens_before / max(1, len(texts)),
        "tokens_per_message_after": tokens_after / max(1, len(texts)),
        "resegmented": resegmented,
        "changed_text": changed,
    }
