"""Request and response models of the inference API.

The request's limits (items per request, text length, id length, threshold bounds) come from the
service settings, so the request model is built from :class:`RequestLimits` by
:func:`build_request_model` when the app is created; the OpenAPI page then shows the limits actually
enforced. :data:`ClassifyRequest` is the model for the default limits.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, field_validator

from data.taxonomy import Label, Surface
from inference.classify import Action

# Synthetic messages (no real users): what platforms send, in Indonesian as written in comments and chat.
_EXAMPLE_ITEMS: list[dict[str, Any]] = [
    {
        "id": "c-1001",
        "text": "Kontennya bagus banget kak, semangat terus ya!",
        "surface": "comment",
        "author_id": "u-52",
    },
    {
        "id": "lc-2001",
        "text": "yg mau kenalan lebih jauh cek bio ya, wa aktif 24 jam",
        "surface": "live_chat",
        "author_id": "u-77",
        "stream_id": "live-9",
    },
    {
        "id": "lc-2002",
        "text": "kak tolong gift dong, ibu aku lagi dirawat di rs gak ada biaya",
        "surface": "live_chat",
        "author_id": "u-78",
        "stream_id": "live-9",
    },
    {
        "id": "c-1002",
        "text": "dasar jelek, gak usah live lagi deh malu-maluin aja",
        "surface": "comment",
        "author_id": "u-53",
    },
]

#: Named request examples for the OpenAPI page (``openapi_examples`` of the request body).
OPENAPI_EXAMPLES: dict[str, dict[str, Any]] = {
    "comments_and_live_chat": {
        "summary": "A mixed batch",
        "description": "Comments and LIVE chat lines scored with the model's own thresholds.",
        "value": {"items": _EXAMPLE_ITEMS},
    },
    "single_live_chat_line": {
        "summary": "One LIVE chat line",
        "value": {
            "items": [
                {
                    "id": "lc-3001",
                    "text": "mau yg lebih hot? dm aku di tele ya kak",
                    "surface": "live_chat",
                    "stream_id": "live-12",
                }
            ]
        },
    },
    "stricter_thresholds": {
        "summary": "Per-request thresholds",
        "description": "Flag off-platform redirection earlier and bullying later for this request only; "
        "values must lie within the service's threshold bounds.",
        "value": {
            "items": [{"id": "c-4001", "text": "promo slot gacor cek link di bio", "surface": "comment"}],
            "thresholds": {"off_platform_redirection": 0.3, "bullying": 0.7},
        },
    },
}


class RequestLimits(BaseModel):
    """Limits a classify request must respect (from the service settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_items: int = Field(default=256, ge=1)
    max_text_chars: int = Field(default=2000, ge=1)
    max_id_chars: int = Field(default=128, ge=1)
    threshold_low: float = Field(default=0.05, gt=0.0, lt=1.0)
    threshold_high: float = Field(default=0.95, gt=0.0, lt=1.0)


def _check_unicode(value: str | None) -> str | None:
    # A JSON "\ud800" escape decodes to a lone surrogate that cannot be encoded (tokenizer, logs, response).
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("contains an unpaired surrogate (invalid Unicode)") from None
    return value


class ClassifyItemBase(BaseModel):
    """One message to score. The constrained fields are tightened by :func:`build_request_model`."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    surface: Surface = Field(
        default=Surface.COMMENT, description="Where the message was written: `comment` or `live_chat`."
    )
    author_id: str | None = None
    stream_id: str | None = None
    occurred_at: AwareDatetime | None = Field(
        default=None,
        description="When the message was posted (with a timezone); `/v1/moderate` dates strikes from it. "
        "Default: when the request arrives.",
    )

    @field_validator("id", "author_id", "stream_id")
    @classmethod
    def _valid_unicode(cls, value: str | None) -> str | None:
        return _check_unicode(value)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty or only whitespace; send the message's text")
        return _check_unicode(value) or value


class ClassifyRequestBase(BaseModel):
    """A batch of messages. The constrained fields are tightened by :func:`build_request_model`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": _EXAMPLE_ITEMS}]})

    items: list[ClassifyItemBase]
    thresholds: dict[Label, float] | None = None

    @field_validator("items")
    @classmethod
    def _unique_ids(cls, items: list[ClassifyItemBase]) -> list[ClassifyItemBase]:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.id in seen:
                raise ValueError(
                    f"items[{index}].id repeats items[{seen[item.id]}].id; "
                    "ids must be unique within a request"
                )
            seen[item.id] = index
        return items


def build_request_model(limits: RequestLimits) -> type[ClassifyRequestBase]:
    """The classify request model enforcing ``limits`` (and documenting them in the OpenAPI schema)."""
    id_field = Field(
        min_length=1, max_length=limits.max_id_chars, description="Caller's id of the message, echoed back."
    )
    item = create_model(
        "ClassifyItem",
        __base__=ClassifyItemBase,
        __module__=__name__,
        __doc__="One message to score.",
        id=(str, id_field),
        text=(
            str,
            Field(
                min_length=1,
                max_length=limits.max_text_chars,
                description="The message as written (not pre-normalised); not logged by default.",
            ),
        ),
        author_id=(
            str | None,
            Field(
                default=None,
                min_length=1,
                max_length=limits.max_id_chars,
                description="Platform id of the author (for the strike engine), echoed back.",
            ),
        ),
        stream_id=(
            str | None,
            Field(
                default=None,
                min_length=1,
                max_length=limits.max_id_chars,
                description="LIVE stream the chat line belongs to, echoed back.",
            ),
        ),
    )
    threshold = Annotated[
        float, Field(ge=limits.threshold_low, le=limits.threshold_high, allow_inf_nan=False)
    ]
    return create_model(
        "ClassifyRequest",
        __base__=ClassifyRequestBase,
        __module__=__name__,
        __doc__="A batch of messages to score.",
        items=(
            list[item],  # type: ignore[valid-type]
            Field(
                min_length=1,
                max_length=limits.max_batch_items,
                description=f"The messages, 1 to {limits.max_batch_items}; ids unique within the request.",
            ),
        ),
        thresholds=(
            dict[Label, threshold] | None,  # type: ignore[valid-type]
            Field(
                default=None,
                description="Per-label thresholds for this request only, replacing the model's; each within "
                f"[{limits.threshold_low}, {limits.threshold_high}].",
            ),
        ),
    )


#: The request model for the default limits.
ClassifyRequest = build_request_model(RequestLimits())


class ModelInfo(BaseModel):
    """Which model answered."""

    name: str = Field(description="Model name from the artifact.")
    version: str = Field(description="Model version from the artifact.")
    normalizer_version: str = Field(description="Version of the text normaliser the model was trained with.")


class MinorSignalResult(BaseModel):
    """The minor signal of one message (rules in ``data/minors.py``); it escalates, it never strikes."""

    flag: bool = Field(description="The text reveals or targets a child (age, school, secrecy, grooming).")
    reasons: list[str] = Field(
        default_factory=list,
        description="Which rules fired: age_under_18, school_level, secrecy_from_parents, "
        "age_question_to_child, child_address_with_grooming_cue.",
    )


class ItemResult(BaseModel):
    """The decision for one message."""

    id: str
    surface: Surface
    author_id: str | None = None
    stream_id: str | None = None
    scores: dict[Label, float] = Field(description="Probability per label, in [0, 1].")
    labels: list[Label] = Field(description="Flagged labels: probability at or above the label's threshold.")
    action: Action = Field(
        description="Recommended action from the score bands; `escalate` when a child may be at risk "
        "(see docs/API.md)."
    )
    max_score: float = Field(description="Highest probability over the labels.")
    minor_signal: MinorSignalResult = Field(description="Whether the text reveals or targets a child.")


class ClassifyResponse(BaseModel):
    """Decisions for every item, in request order."""

    request_id: str
    model: ModelInfo
    thresholds: dict[Label, float] = Field(description="The thresholds applied to this request.")
    results: list[ItemResult]


class FieldProblem(BaseModel):
    """One invalid field."""

    field: str
    message: str


class ErrorDetail(BaseModel):
    """What was wrong with a request."""

    code: str = Field(description="Machine-readable kind, e.g. `invalid_request`, `invalid_json`.")
    message: str = Field(description="Human-readable explanation naming the field.")
    field: str | None = Field(default=None, description="The offending field, e.g. `items[0].text`.")
    problems: list[FieldProblem] = Field(default_factory=list, description="Every problem found.")


class ErrorResponse(BaseModel):
    """Body of every error response."""

    error: ErrorDetail
    request_id: str


class HealthResponse(BaseModel):
    """Liveness or readiness."""

    status: str = Field(description="`ok`, `ready` or `not_ready`.")
    model: ModelInfo | None = None
