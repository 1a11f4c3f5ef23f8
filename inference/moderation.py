"""``POST /v1/moderate``: classify a batch and enforce the ``remove`` decisions in the strike engine.

The enforcement itself is :func:`enforce_removals`, a plain function over the classifier's decisions
and a :class:`~strikes.service.StrikeService`; the route only validates, classifies and translates.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's per-app body type at run time.

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from pydantic import Field

from data.taxonomy import Label
from inference.classify import Action
from inference.routes import (
    _ERROR_RESPONSES,
    ApiError,
    MetricsDep,
    ServingDep,
    _classify,
    require_json,
)
from inference.schemas import (
    OPENAPI_EXAMPLES,
    ClassifyItemBase,
    ClassifyRequestBase,
    ClassifyResponse,
    ItemResult,
    RequestLimits,
    build_request_model,
)
from strikes.api import MODERATOR_RESPONSES, ClassifierName, Service, _domain_errors
from strikes.schemas import DecisionOut
from strikes.service import StrikeService, classifier_violation


class ModeratedItem(ItemResult):
    """A classified message and, when it was removed, what the strike engine did about it."""

    enforcement: DecisionOut | None = Field(
        default=None, description="The strike decision for a `remove` action; null for `allow`/`review`."
    )


class ModerateResponse(ClassifyResponse):
    results: list[ModeratedItem]  # type: ignore[assignment]


def removal_labels(result: ItemResult, remove_band: float) -> list[Label]:
    """The labels behind a ``remove`` action: flagged and at or above the remove band."""
    return [label for label in result.labels if result.scores[label] >= remove_band]


def enforce_removals(
    items: Sequence[ClassifyItemBase],
    results: Sequence[ItemResult],
    *,
    service: StrikeService,
    remove_band: float,
    model_name: str,
    now: datetime | None = None,
) -> list[DecisionOut | None]:
    """Record a classifier violation for every item whose action is ``remove``, atomically.

    Every event is built and checked before anything is written, and the whole batch is recorded in
    one transaction: an invalid item leaves the ledger untouched, and a retried batch gets back the
    stored decisions and notifications of the first attempt.

    Args:
        items: The request's items (each with an ``author_id``).
        results: The classifier's results, one per item, in the same order.
        service: The strike service.
        remove_band: The score at or above which a flagged label removes content.
        model_name: Recorded as the actor of the violations.
        now: Default ``occurred_at`` for items that do not carry one (None: when recorded).

    Returns:
        The strike decision per item, ``None`` for items that were not removed.
    """
    events = []
    positions = []
    for index, (item, result) in enumerate(zip(items, results, strict=True)):
        if result.action is not Action.REMOVE:
            continue
        events.append(
            classifier_violation(
                account_id=item.author_id or "",
                content_id=item.id,
                surface=item.surface,
                labels=removal_labels(result, remove_band),
                scores={label.value: score for label, score in result.scores.items()},
                occurred_at=item.occurred_at or now,
                policy=service.policy,
                model=model_name,
            )
        )
        positions.append(index)
    decisions: list[DecisionOut | None] = [None] * len(items)
    for index, decision in zip(positions, service.record_violations(events), strict=True):
        decisions[index] = DecisionOut.of(decision)
    return decisions


def build_moderate_router(limits: RequestLimits) -> APIRouter:
    """The ``/v1/moderate`` route, validating requests against ``limits`` like ``/v1/classify``."""
    request_model = build_request_model(limits)
    router = APIRouter(prefix="/v1", tags=["moderate"])

    @router.post(
        "/moderate",
        response_model=ModerateResponse,
        responses={**_ERROR_RESPONSES, **MODERATOR_RESPONSES},
        dependencies=[Depends(require_json)],
        summary="Classify a batch and enforce the `remove` decisions (strikes, restrictions, bans)",
    )
    async def moderate(
        body: Annotated[request_model, Body(openapi_examples=OPENAPI_EXAMPLES)],  # type: ignore[valid-type]
        request: Request,
        serving: ServingDep,
        metrics: MetricsDep,
        service: Service,
        classifier: ClassifierName,
    ) -> ModerateResponse:
        """Like `/v1/classify`, then every item whose action is `remove` is recorded as a classifier
        violation against its `author_id`; the strike decision comes back in `enforcement`.

        Needs a classifier API key (`X-API-Key`, one of `TEGUR_CLASSIFIER_API_KEYS`): this call changes
        account state. Every item needs an `author_id`. The batch's enforcement is one transaction:
        all of it or nothing. Re-sending an item (same author, id and policy) strikes nothing twice
        and returns the stored decision with its notifications.
        """
        await _check_authors(body)
        classified = await _classify(body, request, serving, metrics)
        with _domain_errors():
            enforcement = await asyncio.to_thread(
                enforce_removals,
                body.items,
                classified.results,
                service=service,
                remove_band=serving.bands.remove,
                model_name=f"{serving.model_info.name}@{serving.model_info.version} via {classifier}"[:128],
            )
        results = [
            ModeratedItem(**result.model_dump(), enforcement=decision)
            for result, decision in zip(classified.results, enforcement, strict=True)
        ]
        return ModerateResponse(**classified.model_dump(exclude={"results"}), results=results)

    return router


async def _check_authors(body: ClassifyRequestBase) -> None:
    for index, item in enumerate(body.items):
        if not item.author_id:
            field = f"items[{index}].author_id"
            raise ApiError(
                422,
                "invalid_request",
                f"{field}: required by /v1/moderate (the account to strike)",
                field=field,
            )
