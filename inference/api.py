"""The inference service: :func:`create_app` builds the FastAPI app; the model is loaded in :func:`lifespan`.

Run it with ``tegur serve --model DIR``, or ``uvicorn --factory inference.api:create_app`` with
``TEGUR_MODEL_DIR`` set. Raw texts are never logged unless ``TEGUR_LOG_TEXTS=true``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inference.batching import MicroBatcher
from inference.classify import ActionBands, ScoreModel, ThresholdBounds, model_thresholds
from inference.metrics import Metrics, route_label
from inference.moderation import build_moderate_router
from inference.routes import CLASSIFY_PATH, ApiError, ServingState, build_classify_router, ops_router
from inference.schemas import ErrorResponse, ModelInfo, RequestLimits
from inference.settings import ServeSettings, get_settings
from strikes.api import router as strikes_router
from strikes.api import strike_lifespan
from tegur import __version__
from tegur.errors import ConfigError

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("tegur.access")

REQUEST_ID_HEADER = "X-Request-ID"
#: Status recorded (never sent) for a request whose client disconnected mid-body (nginx's convention).
CLIENT_CLOSED_REQUEST = 499
# A client's request id is reused only if it is short and plain (it goes into logs and headers).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

ModelLoader = Callable[[ServeSettings], ScoreModel]


def load_predictor(settings: ServeSettings) -> ScoreModel:
    """Load the artifact named by ``settings.model_dir`` (the default model loader)."""
    if settings.model_dir is None:
        raise ConfigError("no model to serve: pass --model DIR to `tegur serve` or set TEGUR_MODEL_DIR")
    from inference.predictor import Predictor

    # num_threads sets torch's process-wide intra-op threads once, here; the batcher's worker thread
    # applies the same number again before its first model call (see _set_torch_threads).
    return Predictor.from_artifact(
        settings.model_dir,
        precision=settings.precision.value,
        runtime=settings.runtime.value,
        num_threads=settings.threads,
    )


def resident_mb() -> float:
    """This process's resident memory now, in MB (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _set_torch_threads(num_threads: int) -> None:
    # Runs in the batcher's worker thread, which is where the model is called.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(num_threads)


@dataclass
class InFlight:
    """Classify requests currently being handled (counted by the middleware from their arrival)."""

    requests: int = 0


def build_serving(
    model: ScoreModel, settings: ServeSettings, metrics: Metrics, in_flight: InFlight | None = None
) -> ServingState:
    """Bind a loaded model to the settings: thresholds, bands and a (not yet started) micro-batcher."""
    low, high = settings.threshold_bounds
    batcher = MicroBatcher(
        partial(model.predict_proba, batch_size=settings.model_batch_size),
        max_batch_items=settings.batch_max_items,
        max_wait_s=settings.batch_max_wait_ms / 1000,
        queue_limit=settings.queue_limit,
        on_batch=metrics.observe_batch,
        thread_initializer=partial(_set_torch_threads, settings.threads),
        requests_in_flight=(lambda: in_flight.requests) if in_flight is not None else None,
    )
    return ServingState(
        model=model,
        model_info=ModelInfo(
            name=model.model_name, version=model.model_version, normalizer_version=model.normalizer_version
        ),
        thresholds=model_thresholds(model),
        bounds=ThresholdBounds(low, high),
        bands=ActionBands(review=settings.review_band, remove=settings.remove_band),
        batcher=batcher,
        log_texts=settings.log_texts,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the strike service (unless classify-only), load the model off the event loop, start batching."""
    async with AsyncExitStack() as stack:
        if app.state.settings.strikes:
            await stack.enter_async_context(strike_lifespan(app))
        await stack.enter_async_context(_model_lifespan(app))
        yield


@asynccontextmanager
async def _model_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServeSettings = app.state.settings
    metrics: Metrics = app.state.metrics
    loader: ModelLoader = app.state.model_loader
    started = time.perf_counter()
    model = await asyncio.to_thread(loader, settings)
    serving = build_serving(model, settings, metrics, app.state.in_flight)
    await serving.batcher.start()
    metrics.queue_items.set_function(lambda: serving.batcher.pending_items)
    metrics.set_model(**serving.model_info.model_dump())
    app.state.serving = serving
    runtime = getattr(model, "runtime", None)
    precision = getattr(model, "precision", settings.precision)
    logger.info(
        "serving model %s %s (normaliser %s) on %s %s, %d threads; loaded in %.2f s, RSS %.0f MB",
        serving.model_info.name,
        serving.model_info.version,
        serving.model_info.normalizer_version,
        getattr(runtime, "value", runtime or "custom"),
        getattr(precision, "value", precision),
        settings.threads,
        time.perf_counter() - started,
        resident_mb(),
    )
    try:
        yield
    finally:
        app.state.serving = None
        metrics.set_not_ready()
        await serving.batcher.aclose()


def create_app(settings: ServeSettings | None = None, *, model_loader: ModelLoader | None = None) -> FastAPI:
    """Build the inference app.

    Args:
        settings: Service settings; default: read from ``TEGUR_*`` environment variables.
        model_loader: Loads the model in the lifespan; default: :func:`load_predictor` (tests pass a
            small model here).

    Returns:
        The app. The model is loaded when its lifespan starts; until then ``/readyz`` and
        ``/v1/classify`` answer 503.
    """
    settings = settings if settings is not None else get_settings()
    app = FastAPI(
        title="Tegur inference API",
        version=__version__,
        summary="Scores Indonesian comments and LIVE chat for bullying, sexual solicitation, pity bait "
        "and off-platform redirection.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.model_loader = model_loader or load_predictor
    app.state.metrics = Metrics()
    app.state.serving = None
    app.state.in_flight = InFlight()

    app.add_middleware(
        RequestContextMiddleware,
        metrics=app.state.metrics,
        max_body_bytes=settings.max_body_bytes,
        in_flight=app.state.in_flight,
        batched_path=CLASSIFY_PATH,
    )
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(ApiError, _api_error_handler)

    low, high = settings.threshold_bounds
    limits = RequestLimits(
        max_batch_items=settings.max_batch_items,
        max_text_chars=settings.max_text_chars,
        max_id_chars=settings.max_id_chars,
        threshold_low=low,
        threshold_high=high,
    )
    app.include_router(build_classify_router(limits))
    app.include_router(ops_router)
    if settings.strikes:  # classify-only serving has no strike routes and no database
        # The strike engine: moderator decisions, account status, appeals; and classify + enforce.
        app.include_router(
            strikes_router,
            responses={
                400: {"model": ErrorResponse, "description": "Body is not valid JSON."},
                413: {"model": ErrorResponse, "description": "Body larger than the configured maximum."},
            },
        )
        app.include_router(build_moderate_router(limits))
    return app


# ---------------------------------------------------------------------------------------------------------
# Errors: one body for every error, {"error": {"code", "message", "field", "problems"}, "request_id"}.


def error_response(
    request: Request | None,
    status_code: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    problems: Sequence[dict[str, str]] = (),
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    """The standard error response."""
    if request_id is None:
        request_id = getattr(request.state, "request_id", "") if request is not None else ""
    body = {
        "error": {"code": code, "message": message, "field": field, "problems": list(problems)},
        "request_id": request_id,
    }
    return JSONResponse(status_code=status_code, content=body, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    # ("body", "items", 0, "text") -> "items[0].text"; ("body",) -> "body"; ("header", "x") -> "header.x".
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
        if not parts:
            return "body"
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    # A field name may come from the client (an unknown key); keep it printable and encodable.
    return name.encode("utf-8", "backslashreplace").decode("utf-8")[:200]


def _problem_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing" and tuple(error.get("loc", ())) == ("body",):
        return 'request body is empty; send a JSON object like {"items": [{"id": "1", "text": "..."}]}'
    if kind in {"model_attributes_type", "dict_type", "model_type"} and tuple(error.get("loc", ())) == (
        "body",
    ):
        return 'body must be a JSON object like {"items": [{"id": "1", "text": "..."}]}'
    if kind == "extra_forbidden":
        return "unknown field; remove it (see the request schema at /docs)"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for this type only
    errors = list(exc.errors())
    json_error = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if json_error is not None:
        detail = (json_error.get("ctx") or {}).get("error", "malformed JSON")
        position = json_error["loc"][1] if len(json_error.get("loc", ())) > 1 else "?"
        message = f"body is not valid JSON: {detail} (at character {position})"
        return error_response(request, 400, "invalid_json", message, field="body")
    problems = [{"field": _field_name(e.get("loc", ())), "message": _problem_message(e)} for e in errors]
    first = problems[0] if problems else {"field": "body", "message": "invalid request"}
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    # Messages about the whole body already say "body"; others are prefixed with the field they concern.
    prefix = "" if first["field"] == "body" else f"{first['field']}: "
    return error_response(
        request,
        422,
        "invalid_request",
        f"{prefix}{first['message']}{more}",
        field=first["field"],
        problems=problems,
    )


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        # FastAPI's answer to a body json.loads could not handle (e.g. nested too deeply).
        return error_response(request, 400, "invalid_json", "body could not be parsed as JSON", field="body")
    return error_response(request, exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        request, exc.status_code, exc.code, exc.message, field=exc.field, headers=exc.headers
    )


# ---------------------------------------------------------------------------------------------------------
# Request context: request id, body size limit, access log and HTTP metrics, last-resort 500.


class RequestContextMiddleware:
    """Pure ASGI middleware around every HTTP request.

    * Takes ``X-Request-ID`` from the client when it is sane, else makes one; it is in ``request.state``
      and in every response's header.
    * Refuses bodies over ``max_body_bytes`` with 413, from ``Content-Length`` before reading anything,
      or while reading a body sent without one.
    * Counts classify requests in flight from their arrival (the micro-batcher waits for them).
    * Logs one access line (request id, route, status, latency, item count; never the body).
    * Turns any exception that escaped the app into a 500 error body carrying the request id.
    """

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, in_flight: InFlight, batched_path: str
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.in_flight = in_flight
        self.batched_path = batched_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client_id = headers.get(REQUEST_ID_HEADER.lower(), "")
        request_id = client_id if _SANE_REQUEST_ID.fullmatch(client_id) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        response_started = False
        batched = scope["method"] == "POST" and scope["path"] == self.batched_path
        if batched:
            self.in_flight.requests += 1  # from arrival: the micro-batcher may wait for this one

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            body_receive = await self._read_body(headers, receive, request_id)
            if body_receive is None:  # the client went away while sending: nobody to answer
                status = CLIENT_CLOSED_REQUEST
            elif isinstance(body_receive, JSONResponse):
                await body_receive(scope, receive, send_with_id)
            else:
                await self.app(scope, body_receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error, request_id=%s %s %s", request_id, scope["method"], scope["path"]
            )
            if not response_started:
                response = error_response(
                    None,
                    500,
                    "internal_error",
                    f"internal error; quote request id {request_id} when reporting it",
                    request_id=request_id,
                )
                await response(scope, receive, send_with_id)
        finally:
            if batched:
                self.in_flight.requests -= 1
            elapsed = time.perf_counter() - started
            route_name = route_label(scope)
            self.metrics.observe_http(route_name, scope["method"], status, elapsed)
            access_logger.info(
                "request_id=%s method=%s route=%s status=%d ms=%.1f items=%s",
                request_id,
                scope["method"],
                route_name,
                status,
                elapsed * 1000,
                state.get("items", "-"),
            )

    async def _read_body(
        self, headers: dict[str, str], receive: Receive, request_id: str
    ) -> Receive | JSONResponse | None:
        """A receive callable replaying the (size-checked) body, the error response to send instead, or
        None when the client disconnected before the body was complete."""
        declared = headers.get("content-length")
        if declared is not None:
            declared = declared.strip()
            if not (declared.isascii() and declared.isdigit()):  # isdigit alone accepts "²"
                return error_response(
                    None,
                    400,
                    "bad_request",
                    "Content-Length header is not a number",
                    field="header.content-length",
                    request_id=request_id,
                )
            if int(declared) > self.max_body_bytes:
                return self._too_large(request_id)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return self._too_large(request_id)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replay

    def _too_large(self, request_id: str) -> JSONResponse:
        return error_response(
            None,
            413,
            "body_too_large",
            f"request body exceeds {self.max_body_bytes} bytes; send fewer or shorter items",
            field="body",
            request_id=request_id,
        )
