"""HTTP routes: ``POST /v1/classify`` and the operational ``/healthz``, ``/readyz``, ``/metrics``.

The work happens in :mod:`inference.classify` and :mod:`inference.batching`; handlers only translate.
"""

# No `from __future__ import annotations` in this module: FastAPI reads endpoint annotations at run time,
# and the classify endpoint's body type is built per app from its settings (a local name below), which
# a string annotation could not resolve.

import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse

from data.minors import minor_signal
from data.taxonomy import Label
from inference.batching import BatcherClosedError, MicroBatcher, QueueFullError
from inference.classify import (
    ActionBands,
    ScoreModel,
    ThresholdBounds,
    ThresholdError,
    decide_batch,
    resolve_thresholds,
)
from inference.metrics import Metrics
from inference.schemas import (
    OPENAPI_EXAMPLES,
    ClassifyRequestBase,
    ClassifyResponse,
    ErrorResponse,
    HealthResponse,
    ItemResult,
    MinorSignalResult,
    ModelInfo,
    RequestLimits,
    build_request_model,
)

logger = logging.getLogger(__name__)

CLASSIFY_PREFIX = "/v1"
CLASSIFY_PATH = f"{CLASSIFY_PREFIX}/classify"

#: Seconds a client should wait before retrying a 503 (model loading, queue full, shutting down).
RETRY_AFTER_S = 1


class ApiError(Exception):
    """An error with its HTTP status, turned into the standard error body by the app's handler."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


@dataclass
class ServingState:
    """Everything a classify request needs, built in the app's lifespan once the model is loaded."""

    model: ScoreModel
    model_info: ModelInfo
    thresholds: dict[Label, float]
    bounds: ThresholdBounds
    bands: ActionBands
    batcher: MicroBatcher
    log_texts: bool = False


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_serving(request: Request) -> ServingState:
    """The loaded model and its batcher; 503 while the model is not (or no longer) loaded."""
    serving: ServingState | None = request.app.state.serving
    if serving is None:
        raise ApiError(
            503,
            "not_ready",
            "the model is not loaded yet; retry shortly (GET /readyz says when it is)",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return serving


async def require_json(request: Request) -> None:
    """415 unless the request declares a JSON body (``Content-Type: application/json``)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = repr(content_type[:100]) if content_type else "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json (got {shown})",
            field="header.content-type",
        )


MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ServingDep = Annotated[ServingState, Depends(get_serving)]

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Body is not valid JSON, or a header is malformed."},
    413: {"model": ErrorResponse, "description": "Body larger than the configured maximum."},
    415: {"model": ErrorResponse, "description": "Content-Type is not application/json."},
    422: {"model": ErrorResponse, "description": "A field is missing or invalid; `error.field` names it."},
    503: {"model": ErrorResponse, "description": "Model not loaded yet, or the queue is full: retry."},
}


def build_classify_router(limits: RequestLimits) -> APIRouter:
    """The ``/v1`` router, validating requests against ``limits``."""
    request_model = build_request_model(limits)
    router = APIRouter(prefix=CLASSIFY_PREFIX, tags=["classify"])

    @router.post(
        CLASSIFY_PATH.removeprefix(CLASSIFY_PREFIX),
        response_model=ClassifyResponse,
        responses=_ERROR_RESPONSES,
        dependencies=[Depends(require_json)],
        summary="Score a batch of comments or LIVE chat lines",
    )
    async def classify(
        body: Annotated[request_model, Body(openapi_examples=OPENAPI_EXAMPLES)],  # type: ignore[valid-type]
        request: Request,
        serving: ServingDep,
        metrics: MetricsDep,
    ) -> ClassifyResponse:
        """Probability per label, flagged labels and a recommended action for every item.

        Thresholds default to the model's tuned ones; `thresholds` replaces some of them for this
        request only. The action is `remove` when a flagged label scores at or above the remove band,
        `review` when any label is flagged or scores at or above the review band, else `allow`.
        """
        return await _classify(body, request, serving, metrics)

    return router


async def _classify(
    body: ClassifyRequestBase, request: Request, serving: ServingState, metrics: Metrics
) -> ClassifyResponse:
    request_id: str = request.state.request_id
    request.state.items = len(body.items)
    try:
        thresholds = resolve_thresholds(serving.thresholds, body.thresholds, serving.bounds)
    except ThresholdError as exc:
        raise ApiError(422, "invalid_request", f"{exc.field}: {exc}", field=exc.field) from None
    if serving.log_texts:
        for item in body.items:
            logger.info("request_id=%s item=%s text=%r", request_id, item.id, item.text)
    started = time.perf_counter()
    try:
        probabilities = await serving.batcher.submit([item.text for item in body.items])
    except QueueFullError as exc:
        metrics.overloaded.inc()
        raise ApiError(
            503,
            "overloaded",
            f"the service is at capacity ({exc}); retry after {RETRY_AFTER_S} s",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from None
    except BatcherClosedError as exc:
        raise ApiError(503, "not_ready", str(exc), headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    request.state.model_ms = (time.perf_counter() - started) * 1000
    minors = [minor_signal(item.text) for item in body.items]
    decisions = decide_batch(probabilities, thresholds, serving.bands, minors)
    metrics.observe_decisions([item.surface for item in body.items], decisions)
    results = [
        ItemResult(
            id=item.id,
            surface=item.surface,
            author_id=item.author_id,
            stream_id=item.stream_id,
            scores=decision.scores,
            labels=decision.labels,
            action=decision.action,
            max_score=decision.max_score,
            minor_signal=MinorSignalResult(flag=decision.minor.flag, reasons=list(decision.minor.reasons)),
        )
        for item, decision in zip(body.items, decisions, strict=True)
    ]
    return ClassifyResponse(
        request_id=request_id, model=serving.model_info, thresholds=thresholds, results=results
    )


ops_router = APIRouter(tags=["operations"])


@ops_router.get("/healthz", response_model=HealthResponse, summary="Liveness: the process answers")
async def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@ops_router.get(
    "/readyz",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The model is not loaded yet."}},
    summary="Readiness: the model is loaded and requests can be classified",
)
async def readyz(request: Request) -> Any:
    serving: ServingState | None = request.app.state.serving
    if serving is None:
        return JSONResponse(
            status_code=503,
            content=HealthResponse(status="not_ready").model_dump(mode="json"),
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return HealthResponse(status="ready", model=serving.model_info)


@ops_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics."}},
    summary="Prometheus metrics",
)
async def metrics_endpoint(metrics: MetricsDep) -> Response:
    payload, content_type = metrics.render()
    return Response(content=payload, media_type=content_type)
