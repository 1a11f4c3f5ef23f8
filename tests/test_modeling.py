"""The classifier: output shapes, padding-blind mean pooling, the masked losses, loading a base encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from data.taxonomy import LABEL_NAMES
from inference.modeling import TegurForMultiLabel, label_maps, mean_pool, multilabel_loss
from tegur.errors import ConfigError
from training.config import LossKind, ModelConfig
from training.train import build_tiny_tokenizer, load_base_model, resolve_base


def _config(**extra: object) -> BertConfig:
    id2label, label2id = label_maps()
    return BertConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(LABEL_NAMES),
        id2label=id2label,
        label2id=label2id,
        **extra,
    )


@pytest.fixture
def model() -> TegurForMultiLabel:
    torch.manual_seed(0)
    return TegurForMultiLabel(_config()).eval()


def test_label_maps_follow_the_taxonomy() -> None:
    id2label, label2id = label_maps()
    assert [id2label[i] for i in range(len(LABEL_NAMES))] == list(LABEL_NAMES)
    assert all(id2label[i] == name for name, i in label2id.items())


def test_forward_shapes_and_loss(model: TegurForMultiLabel) -> None:
    ids = torch.randint(5, 99, (3, 7))
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert out.logits.shape == (3, len(LABEL_NAMES)) and out.loss is None
    labels = torch.tensor([[1.0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]])
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
    assert out.loss.ndim == 0 and out.loss.item() > 0


def test_padding_content_does_not_change_the_output(model: TegurForMultiLabel) -> None:
    ids = torch.tensor([[2, 11, 12, 13, 3, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    other_pad = ids.clone()
    other_pad[0, 5:] = torch.tensor([50, 60, 70])
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=mask).logits
        b = model(input_ids=other_pad, attention_mask=mask).logits
        unpadded = model(input_ids=ids[:, :5], attention_mask=mask[:, :5]).logits
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, unpadded, atol=1e-5, rtol=1e-5)


def test_mean_pool_averages_unmasked_tokens_only() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    pooled = mean_pool(hidden, torch.tensor([[1, 1, 0]]))
    torch.testing.assert_close(pooled, torch.tensor([[2.0, 3.0]]))


def test_masked_cells_do_not_count_in_the_loss() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    a = multilabel_loss(logits, torch.tensor([[1.0, 0, 0, 0]]), mask=mask)
    b = multilabel_loss(logits, torch.tensor([[1.0, 0, 1, 1]]), mask=mask)
    torch.testing.assert_close(a, b)
    only_two = multilabel_loss(logits[:, :2], torch.tensor([[1.0, 0]]))
    torch.testing.assert_close(a, only_two)


def test_pos_weight_scales_positive_cells() -> None:
    logits, labels = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    plain = multilabel_loss(logits, labels)
    weighted = multilabel_loss(logits, labels, pos_weight=torch.tensor([3.0, 3.0]))
    # The positive cell triples, the negative cell is unchanged: (3a + a) / 2 vs (a + a) / 2.
    torch.testing.assert_close(weighted, plain * 2)


def test_focal_loss_down_weights_easy_cells() -> None:
    labels = torch.tensor([[1.0, 0.0]])
    easy = torch.tensor([[4.0, -4.0]])
    hard = torch.tensor([[-1.0, 1.0]])
    bce_easy, focal_easy = (multilabel_loss(easy, labels, kind=k) for k in LossKind)
    bce_hard, focal_hard = (multilabel_loss(hard, labels, kind=k) for k in LossKind)
    assert focal_easy < bce_easy / 100  # (1 - p_t)^2 with p_t ~ 0.98
    assert focal_hard > bce_hard / 2
    assert multilabel_loss(hard, labels, kind=LossKind.FOCAL, gamma=0.0) == pytest.approx(bce_hard.item())


def test_model_uses_the_loss_settings_of_its_config() -> None:
    torch.manual_seed(0)
    model = TegurForMultiLabel(
        _config(tegur_loss="focal", focal_gamma=2.0, pos_weight=[2.0, 1.0, 1.0, 1.0])
    ).eval()
    ids = torch.randint(5, 99, (2, 6))
    labels = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0]])
    out = model(input_ids=ids, labels=labels)
    expected = multilabel_loss(
        out.logits, labels, kind=LossKind.FOCAL, gamma=2.0, pos_weight=torch.tensor([2.0, 1.0, 1.0, 1.0])
    )
    torch.testing.assert_close(out.loss, expected)


def test_freeze_embeddings(model: TegurForMultiLabel) -> None:
    frozen = model.freeze_embeddings()
    assert frozen == sum(p.numel() for p in model.bert.embeddings.parameters())
    assert not any(p.requires_grad for p in model.bert.embeddings.parameters())
    assert all(p.requires_grad for p in model.bert.encoder.parameters())
    assert model.classifier.weight.requires_grad


def test_freeze_lower_layers(model: TegurForMultiLabel) -> None:
    model.freeze_lower_layers(1)
    assert not any(p.requires_grad for p in model.bert.embeddings.parameters())
    assert not any(p.requires_grad for p in model.bert.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in model.bert.encoder.layer[1].parameters())
    with pytest.raises(ValueError, match="cannot freeze 3 layers of a 2-layer encoder"):
        model.freeze_lower_layers(3)


@pytest.fixture
def base_folder(tmp_path: Path) -> Path:
    """A tiny BertModel (no pooler) saved like `tegur model build` saves e5, with a tokenizer."""
    folder = tmp_path / "base"
    tokenizer = build_tiny_tokenizer(
        ["halo kak cek bio", "semoga sehat selalu"] * 20, vocab_size=120, max_length=32
    )
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    torch.manual_seed(1)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_base_encoder_loads_with_only_the_head_new(base_folder: Path) -> None:
    base = BertModel.from_pretrained(base_folder, add_pooling_layer=False)
    id2label, label2id = label_maps()
    model, info = TegurForMultiLabel.from_pretrained(
        base_folder, num_labels=4, id2label=id2label, label2id=label2id, output_loading_info=True
    )
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    for name, tensor in base.state_dict().items():
        torch.testing.assert_close(model.bert.state_dict()[name], tensor, msg=name)


def test_load_base_model_from_config(base_folder: Path) -> None:
    model, tokenizer = load_base_model(ModelConfig(name_or_path=str(base_folder)))
    assert model.config.id2label == dict(enumerate(LABEL_NAMES))
    assert model.config.problem_type == "multi_label_classification"
    assert tokenizer("halo kak")["input_ids"][0] == tokenizer.cls_token_id


def test_missing_default_base_folder_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        resolve_base("models/multilingual-e5-small")
    assert str(err.value) == (
        "models/multilingual-e5-small not found: run `tegur model build --offline` or set "
        "model.name_or_path to a Hub id"
    )


def test_hub_ids_pass_through_and_missing_paths_fail(tmp_path: Path) -> None:
    assert resolve_base("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    with pytest.raises(ConfigError, match="not found"):
        resolve_base(str(tmp_path / "nowhere"))


def test_a_non_bert_base_is_refused(base_folder: Path) -> None:
    config_path = base_folder / "config.json"
    config_path.write_text(config_path.read_text().replace('"model_type": "bert"', '"model_type": "gpt2"'))
    with pytest.raises(ConfigError, match="model type 'gpt2'"):
        load_base_model(ModelConfig(name_or_path=str(base_folder)))
