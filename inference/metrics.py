"""Prometheus metrics of the inference service.

Each app gets its own registry (several apps can live in one process, as in tests), which also carries
the standard ``process_*`` (CPU, memory, file descriptors) and ``python_*`` (GC, version) collectors.
Flag rate per label is ``rate(tegur_flagged_items_total{label=...}) / rate(tegur_classified_items_total)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from data.taxonomy import LABELS, Surface
from inference.batching import BatchStats
from inference.classify import Action, Decision

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


UNMATCHED_ROUTE = "unmatched"


def route_label(scope: Mapping[str, Any]) -> str:
    """The route template a request matched, the ``route`` label of HTTP metrics (``unmatched``: a 404).

    FastAPI's own routes record themselves in the scope; the schema and docs routes (``/openapi.json``,
    ``/docs``, ``/redoc``) are plain Starlette routes that record only their endpoint, so they are found
    in the app's routes by it.
    """
    path = getattr(scope.get("route"), "path", None)
    if path:
        return path
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        for route in getattr(scope.get("app"), "routes", ()):
            if getattr(route, "endpoint", None) is endpoint and getattr(route, "path", None):
                return route.path
    return UNMATCHED_ROUTE


class Metrics:
    """The service's collectors, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # The process-wide standard collectors (they read /proc and the interpreter; no state of their own).
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(standard)
        self.http_requests = Counter(
            "tegur_http_requests_total",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "tegur_http_request_duration_seconds",
            "HTTP request latency by route and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.request_items = Histogram(
            "tegur_classify_request_items", "Items per classify request.", buckets=_SIZE_BUCKETS, registry=r
        )
        self.batch_items = Histogram(
            "tegur_model_batch_items",
            "Items per model call, after micro-batching.",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "tegur_model_batch_requests",
            "Requests merged into one model call.",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.model_latency = Histogram(
            "tegur_model_call_duration_seconds",
            "Duration of one model call (a micro-batch).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.items = Counter(
            "tegur_classified_items_total", "Messages classified, by surface.", ["surface"], registry=r
        )
        self.flagged = Counter(
            "tegur_flagged_items_total",
            "Messages flagged with a label (one message may count for several).",
            ["label"],
            registry=r,
        )
        self.actions = Counter("tegur_actions_total", "Recommended actions returned.", ["action"], registry=r)
        self.overloaded = Counter(
            "tegur_overload_rejections_total",
            "Requests refused with 503 because the queue was full.",
            registry=r,
        )
        self.queue_items = Gauge("tegur_queue_items", "Items waiting for or in a model call.", registry=r)
        self.ready = Gauge("tegur_model_ready", "1 once the model is loaded and serving.", registry=r)
        self.model = Info("tegur_model", "The model being served.", registry=r)
        # Every label value is exported from the start, so dashboards and rates see zeros, not gaps.
        for surface in Surface:
            self.items.labels(surface=surface.value)
        for label in LABELS:
            self.flagged.labels(label=label.value)
        for action in Action:
            self.actions.labels(action=action.value)

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route=route, method=method, status=str(status)).inc()
        self.http_latency.labels(route=route, method=method).observe(seconds)

    def observe_batch(self, stats: BatchStats) -> None:
        self.batch_items.observe(stats.items)
        self.batch_requests.observe(stats.jobs)
        self.model_latency.observe(stats.seconds)

    def observe_decisions(self, surfaces: Sequence[Surface], decisions: Iterable[Decision]) -> None:
        self.request_items.observe(len(surfaces))
        for surface, decision in zip(surfaces, decisions, strict=True):
            self.items.labels(surface=surface.value).inc()
            self.actions.labels(action=decision.action.value).inc()
            for label in decision.labels:
                self.flagged.labels(label=label.value).inc()

    def set_model(self, *, name: str, version: str, normalizer_version: str) -> None:
        self.model.info({"name": name, "version": version, "normalizer_version": normalizer_version})
        self.ready.set(1)

    def set_not_ready(self) -> None:
        self.ready.set(0)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
