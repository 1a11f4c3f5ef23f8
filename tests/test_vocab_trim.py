"""Vocabulary trimming: corpus ids round-trip, held-out text loses no character, scores unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import PreTrainedTokenizerFast

from inference.predictor import TextEncoder
from tegur.errors import ConfigError
from tests.fixtures_models import synthetic_examples
from training.train import build_tiny_tokenizer
from training.vocab_trim import trim_embeddings, trim_vocabulary, unk_report

CORPUS = [row["text"] for row in synthetic_examples(200, 5, split="train")]
# Words and characters the corpus never had (all of them in the base vocabularies' alphabets).
HELD_OUT = ["kakak cantik banget, salam dari medan!", "zzz qwerty 12345", "makasih kak 🙏", "jelekkk bgt"]
MAX_LENGTH = 48


def unigram_tokenizer() -> PreTrainedTokenizerFast:
    """A small XLM-R-style tokenizer: Unigram over Metaspace, <s> ... </s>, <unk> at id 3."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    alphabet = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789!,.?🙏")
    trainer = trainers.UnigramTrainer(
        vocab_size=400,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        initial_alphabet=alphabet,
    )
    tok.train_from_iterator([*CORPUS, " ".join(alphabet), "kaka salam medan qwerty"], trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
    )


def wordpiece_tokenizer() -> PreTrainedTokenizerFast:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789!,.?🙏"
    return build_tiny_tokenizer([*CORPUS, " ".join(alphabet), "kakak salam dari medan"], 400, MAX_LENGTH)


TOKENIZERS = [
    pytest.param(unigram_tokenizer, id="unigram"),
    pytest.param(wordpiece_tokenizer, id="wordpiece"),
]


@pytest.mark.parametrize("make", TOKENIZERS)
def test_corpus_ids_round_trip(make) -> None:
    full = make()
    trimmed = trim_vocabulary(full, CORPUS, MAX_LENGTH)
    assert trimmed.size < len(full)
    before = TextEncoder.from_pretrained(full, MAX_LENGTH).encode(CORPUS)
    after = TextEncoder.from_pretrained(trimmed.tokenizer, MAX_LENGTH).encode(CORPUS)
    assert [[trimmed.old_ids[i] for i in row] for row in after] == before
    # Specials keep their ids (the old order is kept), and the rebuilt tokenizer knows them.
    specials = sorted(full.all_special_ids)
    assert trimmed.old_ids[: len(specials)] == specials == list(range(len(specials)))
    assert trimmed.tokenizer.pad_token_id == trimmed.old_ids.index(full.pad_token_id)
    assert trimmed.tokenizer.unk_token_id == trimmed.old_ids.index(full.unk_token_id)


@pytest.mark.parametrize("make", TOKENIZERS)
def test_held_out_text_loses_no_character(make) -> None:
    full = make()
    trimmed = trim_vocabulary(full, CORPUS, MAX_LENGTH)
    report = unk_report(full, trimmed, HELD_OUT, MAX_LENGTH)
    assert report["changed_text"] == 0
    assert report["messages_with_unk_after"] == report["messages_with_unk_before"]
    assert report["vocab_after"] == trimmed.size < report["vocab_before"] == len(full)
    for text in HELD_OUT:
        ids = trimmed.tokenizer(text)["input_ids"]
        assert trimmed.tokenizer.decode(ids, skip_special_tokens=True) == full.decode(
            full(text)["input_ids"], skip_special_tokens=True
        )


def test_characters_outside_cjk_are_kept_even_when_unused() -> None:
    full = unigram_tokenizer()
    trimmed = trim_vocabulary(full, ["salam"], MAX_LENGTH)
    kept = set(trimmed.tokenizer.get_vocab())
    assert {"q", "z", "7", "🙏", "\u2581"} <= kept
    used = set(full.convert_ids_to_tokens(full("salam")["input_ids"]))
    unused_words = {
        p
        for p in full.get_vocab()
        if len(p.strip("\u2581")) > 1 and p not in used | set(full.all_special_tokens)
    }
    assert unused_words and not unused_words & kept


def test_trimmed_model_scores_like_the_full_one() -> None:
    import torch

    from inference.modeling import TegurForMultiLabel
    from training.config import TinyModelConfig
    from training.train import tiny_bert_config

    full = wordpiece_tokenizer()
    config = tiny_bert_config(TinyModelConfig(), vocab_size=len(full), max_length=MAX_LENGTH, pad_token_id=0)
    torch.manual_seed(0)
    model = TegurForMultiLabel(config).eval()
    texts = CORPUS[:20]
    enc = TextEncoder.from_pretrained(full, MAX_LENGTH)
    with torch.no_grad():
        before = model(*map(torch.from_numpy, enc.pad(enc.encode(texts)))).logits.numpy()
        trimmed = trim_vocabulary(full, CORPUS, MAX_LENGTH)
        trim_embeddings(model, trimmed.old_ids)
        enc = TextEncoder.from_pretrained(trimmed.tokenizer, MAX_LENGTH)
        after = model(*map(torch.from_numpy, enc.pad(enc.encode(texts)))).logits.numpy()
    assert model.config.vocab_size == trimmed.size == model.bert.embeddings.word_embeddings.num_embeddings
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_bpe_tokenizers_are_refused_with_the_fix() -> None:
    from tokenizers import Tokenizer, models

    bpe = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.BPE(vocab={"a": 0, "<unk>": 1}, merges=[]))
    )
    with pytest.raises(ConfigError, match=r"cannot trim a BPE tokenizer; .*distill.trim_vocabulary: false"):
        trim_vocabulary(bpe, ["a"], MAX_LENGTH)
