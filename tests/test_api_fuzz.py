"""Fuzz the inference API from its own OpenAPI schema (schemathesis): no input may produce a 5xx.

Positive (schema-valid) and negative (schema-violating) requests hit every operation; responses must
not be server errors and must match the documented status codes, content types and schemas. The app
runs once on a fake model (exact, fast) and once on a real tiny artifact (its tokenizer and normaliser
see whatever text the fuzzer makes up).
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from inference.api import create_app
from tests.fixtures_models import build_untrained_artifact
from tests.test_api import FakeModel, small_settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def _schema(app, max_examples: int):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(modes=MODES, max_examples=max_examples)
    return schema


def _check(case) -> int:
    response = case.call_and_validate(checks=CHECKS)
    if case.operation.path == "/readyz" and case.method.upper() == "GET":
        # schemathesis runs the app's lifespan: the model is loaded, so classify is really exercised.
        assert response.status_code == 200
    return response.status_code


fake_schema = _schema(
    create_app(small_settings(), model_loader=lambda _settings: FakeModel()), max_examples=40
)


@fake_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case) -> None:
    _check(case)


def test_no_server_errors_on_the_real_tiny_model(tmp_path: Path) -> None:
    # Driven with `given` inside the test (not `schemathesis.pytest.from_fixture`, whose lazy loader
    # breaks on pytest 9: it sets `request.node._nodeid`); the fuzzing phase only, positive and negative.
    artifact = build_untrained_artifact(tmp_path / "untrained")
    app = create_app(small_settings(model_dir=artifact, max_text_chars=500, max_body_bytes=65_536))
    operation = _schema(app, max_examples=50)["/v1/classify"]["POST"]
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in MODES))

    statuses: set[int] = set()

    @given(case=cases)
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case) -> None:
        statuses.add(_check(case))

    fuzz()
    assert 200 in statuses  # the model answered: the fuzzer's texts reached the tokenizer and the model
