"""The service's Prometheus registry (inference/metrics.py): standard collectors and route labels."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from inference.api import create_app
from inference.metrics import Metrics
from tests.test_api import FakeModel, small_settings


@pytest.fixture
def client():
    with TestClient(create_app(small_settings(), model_loader=lambda _s: FakeModel())) as test_client:
        yield test_client


def test_registry_keeps_the_standard_process_and_python_collectors() -> None:
    text, _ = Metrics().render()
    exposition = text.decode()
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "python_info",
        "python_gc_collections_total",
    ):
        assert f"\n{name}" in exposition, name
    # Two apps in one process each get them (the same collectors, registered in each registry).
    assert "python_info" in Metrics().render()[0].decode()


def test_schema_and_docs_pages_are_their_own_routes_not_unmatched(client) -> None:
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert client.get(path).status_code == 200
    assert client.get("/no/such/page").status_code == 404
    text = client.get("/metrics").text
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert f'tegur_http_requests_total{{method="GET",route="{path}",status="200"}} 1.0' in text
    assert 'tegur_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'route="unmatched",status="200"' not in text
