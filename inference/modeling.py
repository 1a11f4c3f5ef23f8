"""The classifier: a BERT-style encoder, masked mean pooling and one logit per label.

Mean pooling (not the [CLS] pooler) because the base model, multilingual-e5, was trained to embed a text
as the mean of its token states. The loss lives here too, configured by the model config, so that
``model(**batch)`` returns the training loss and the saved ``config.json`` records how it was trained.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from data.taxonomy import LABEL_NAMES
from training.config import LossKind


def label_maps() -> tuple[dict[int, str], dict[str, int]]:
    """``id2label`` and ``label2id`` in :data:`data.taxonomy.LABELS` order (the head's output order)."""
    id2label = dict(enumerate(LABEL_NAMES))
    return id2label, {name: i for i, name in id2label.items()}


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token states where ``attention_mask`` is 1; padding never contributes."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1.0)


def multilabel_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    kind: LossKind = LossKind.BCE,
    pos_weight: torch.Tensor | None = None,
    gamma: float = 2.0,
) -> torch.Tensor:
    """Mean per-cell loss over the (example, label) cells where ``mask`` is 1.

    ``mask`` marks the labels an example's annotation covers: a gambling-spam corpus says nothing about
    bullying, so its rows must not teach the model that they are not bullying.
    ``pos_weight`` scales the positive term per label (class weighting). Focal loss
    (Lin et al. 2017) multiplies each cell by ``(1 - p_t) ** gamma`` to down-weight easy cells.
    """
    logits = logits.float()
    labels = labels.to(logits.dtype)
    cell = nn.functional.binary_cross_entropy_with_logits(
        logits, labels, pos_weight=pos_weight, reduction="none"
    )
    if kind == LossKind.FOCAL:
        p = torch.sigmoid(logits)
        p_t = p * labels + (1 - p) * (1 - labels)
        cell = cell * (1 - p_t).pow(gamma)
    if mask is None:
        return cell.mean()
    mask = mask.to(cell.dtype)
    return (cell * mask).sum() / mask.sum().clamp(min=1.0)


class TegurForMultiLabel(BertPreTrainedModel):
    """BERT encoder + masked mean pooling + dropout + a linear layer with one logit per label.

    Extra config fields (saved in ``config.json``): ``tegur_loss`` (:class:`LossKind`), ``focal_gamma``,
    ``pos_weight`` (list per label or ``None``) and ``classifier_dropout``.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = getattr(config, "classifier_dropout", None)
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def freeze_embeddings(self) -> int:
        """Stop training the embedding tables; return how many parameters were frozen.

        The word-embedding table holds most of a multilingual model's parameters (96M of e5-small's
        118M); freezing it removes their gradient and optimizer updates (about 2x faster steps on CPU)
        at little cost, since fine-tuning moves rare-token embeddings only a little.
        """
        frozen = 0
        for param in self.bert.embeddings.parameters():
            if param.requires_grad:
                param.requires_grad_(False)
                frozen += param.numel()
        return frozen

    def freeze_lower_layers(self, count: int) -> int:
        """Freeze the embeddings and the lowest ``count`` encoder layers; return the parameters frozen.

        Backpropagation then stops at the first trainable layer, which saves the backward pass through
        the frozen ones.
        """
        layers = self.bert.encoder.layer
        if count > len(layers):
            raise ValueError(f"cannot freeze {count} layers of a {len(layers)}-layer encoder")
        frozen = self.freeze_embeddings()
        for layer in layers[:count]:
            for param in layer.parameters():
                if param.requires_grad:
                    param.requires_grad_(False)
                    frozen += param.numel()
        return frozen

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        label_mask: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        outputs = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            return_dict=True,
        )
        pooled = mean_pool(outputs.last_hidden_state, attention_mask)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            pos_weight = getattr(self.config, "pos_weight", None)
            loss = multilabel_loss(
                logits,
                labels,
                mask=label_mask,
                kind=LossKind(getattr(self.config, "tegur_loss", LossKind.BCE)),
                pos_weight=None if pos_weight is None else logits.new_tensor(pos_weight, dtype=torch.float32),
                gamma=float(getattr(self.config, "focal_gamma", 2.0)),
            )
        return SequenceClassifierOutput(loss=loss, logits=logits)
