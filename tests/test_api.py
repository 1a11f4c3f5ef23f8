"""The inference API (inference/api.py, routes.py, schemas.py, settings.py, metrics.py, cli.py).

Most tests run the app on :class:`FakeModel`, whose scores are known, so that flags and actions can
be checked exactly; ``test_real_tiny_model_*`` start it on a tiny trained artifact.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from data.taxonomy import LABEL_NAMES
from inference.api import create_app
from inference.batching import QueueFullError
from inference.settings import ServeSettings, load_settings
from tegur.errors import ArtifactError, ConfigError
from tests.fixtures_models import build_untrained_artifact

# Scores by keyword (base 0.02); thresholds below. Chosen so each action has a known example.
_KEYWORD_SCORES = {
    "jelek": ("bullying", 0.6),  # flagged (0.5), below remove band -> review
    "gift": ("pity_bait", 0.7),  # flagged (0.5) -> review
    "wa aktif": ("off_platform_redirection", 0.97),  # flagged and above remove band -> remove
    "hampir": ("sexual_solicitation", 0.45),  # below threshold 0.5 and review band 0.5 -> allow
    "dekat": ("sexual_solicitation", 0.52),  # flagged just above 0.5 -> review
}
FAKE_THRESHOLDS = {
    "bullying": 0.5,
    "sexual_solicitation": 0.5,
    "pity_bait": 0.5,
    "off_platform_redirection": 0.4,
}


class FakeModel:
    """Implements inference.classify.ScoreModel with scores given by keywords."""

    labels = LABEL_NAMES
    thresholds = FAKE_THRESHOLDS
    model_name = "fake-tegur"
    model_version = "0.0.1"
    normalizer_version = "norm-1"

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        self.batch_sizes.append(len(texts))
        out = np.full((len(texts), len(LABEL_NAMES)), 0.02, dtype=np.float32)
        for row, text in enumerate(texts):
            for keyword, (label, score) in _KEYWORD_SCORES.items():
                if keyword in text.lower():
                    out[row, LABEL_NAMES.index(label)] = score
        return out


def small_settings(**overrides) -> ServeSettings:
    values = {
        "max_batch_items": 8,
        "max_text_chars": 60,
        "max_id_chars": 16,
        "max_body_bytes": 4096,
        "threshold_bounds": (0.05, 0.95),
        "review_band": 0.5,
        "remove_band": 0.9,
        "batch_max_wait_ms": 1.0,
        "num_threads": 1,
        **overrides,
    }
    return ServeSettings(**values)


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def client(fake_model):
    app = create_app(small_settings(), model_loader=lambda _settings: fake_model)
    with TestClient(app) as test_client:
        yield test_client


def post(client: TestClient, payload, **headers):
    return client.post("/v1/classify", json=payload, headers=headers)


ITEMS = [
    {"id": "c1", "text": "Kontennya bagus banget kak", "surface": "comment", "author_id": "u1"},
    {
        "id": "l1",
        "text": "cek bio ya, wa aktif 24 jam",
        "surface": "live_chat",
        "author_id": "u2",
        "stream_id": "s9",
    },
    {"id": "l2", "text": "kak tolong gift dong", "surface": "live_chat", "stream_id": "s9"},
    {"id": "c2", "text": "dasar jelek", "surface": "comment"},
    {"id": "c3", "text": "hampir saja", "surface": "comment"},
]


# ---------------------------------------------------------------------------------------------------------
# classify


def expected_action(scores: dict[str, float], flagged: list[str], review: float, remove: float) -> str:
    if any(scores[label] >= remove for label in flagged):
        return "remove"
    if flagged or max(scores.values()) >= review:
        return "review"
    return "allow"


def test_classify_happy_path(client) -> None:
    response = post(client, {"items": ITEMS})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "fake-tegur", "version": "0.0.1", "normalizer_version": "norm-1"}
    assert body["thresholds"] == FAKE_THRESHOLDS
    assert body["request_id"] == response.headers["x-request-id"]
    assert [r["id"] for r in body["results"]] == [item["id"] for item in ITEMS]
    for item, result in zip(ITEMS, body["results"], strict=True):
        assert list(result["scores"]) == list(LABEL_NAMES)
        assert all(0.0 <= s <= 1.0 for s in result["scores"].values())
        flagged = [name for name in LABEL_NAMES if result["scores"][name] >= FAKE_THRESHOLDS[name]]
        assert result["labels"] == flagged
        assert result["action"] == expected_action(result["scores"], flagged, 0.5, 0.9)
        assert result["max_score"] == pytest.approx(max(result["scores"].values()))
        assert result["surface"] == item["surface"]
        assert result["author_id"] == item.get("author_id")
        assert result["stream_id"] == item.get("stream_id")
    actions = {r["id"]: (r["labels"], r["action"]) for r in body["results"]}
    assert actions == {
        "c1": ([], "allow"),
        "l1": (["off_platform_redirection"], "remove"),
        "l2": (["pity_bait"], "review"),
        "c2": (["bullying"], "review"),
        "c3": ([], "allow"),
    }


def test_surface_defaults_to_comment(client) -> None:
    response = post(client, {"items": [{"id": "x", "text": "halo"}]})
    assert response.status_code == 200
    assert response.json()["results"][0]["surface"] == "comment"


def test_threshold_override_within_bounds_changes_flags(client) -> None:
    payload = {"items": ITEMS, "thresholds": {"pity_bait": 0.75, "sexual_solicitation": 0.4}}
    body = post(client, payload).json()
    assert body["thresholds"] == {**FAKE_THRESHOLDS, "pity_bait": 0.75, "sexual_solicitation": 0.4}
    results = {r["id"]: r for r in body["results"]}
    assert results["l2"]["labels"] == []  # 0.7 < 0.75
    assert results["l2"]["action"] == "review"  # still in the review band
    assert results["c3"]["labels"] == ["sexual_solicitation"]  # 0.45 >= 0.4
    assert results["c3"]["action"] == "review"
    # The override is for that request only.
    assert post(client, {"items": ITEMS}).json()["thresholds"] == FAKE_THRESHOLDS


@pytest.mark.parametrize(
    ("thresholds", "field"),
    [
        ({"pity_bait": 0.99}, "thresholds.pity_bait"),
        ({"bullying": 0.01}, "thresholds.bullying"),
        ({"bullying": "high"}, "thresholds.bullying"),
        ({"spam": 0.5}, "thresholds.spam"),
        ([0.5], "thresholds"),
    ],
)
def test_threshold_override_outside_bounds_is_422_naming_the_label(client, thresholds, field) -> None:
    response = post(client, {"items": ITEMS[:1], "thresholds": thresholds})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"].startswith(field)
    assert field in error["message"]


def test_concurrent_requests_get_their_own_results(client, fake_model) -> None:
    results: dict[int, dict] = {}

    def call(i: int) -> None:
        text = "wa aktif" if i % 2 else "bagus"
        results[i] = post(client, {"items": [{"id": f"r{i}", "text": text}]}).json()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, body in results.items():
        (result,) = body["results"]
        assert result["id"] == f"r{i}"
        assert result["action"] == ("remove" if i % 2 else "allow")
    assert sum(fake_model.batch_sizes) == 8


# ---------------------------------------------------------------------------------------------------------
# limits and errors: each a 4xx whose message names the field


def _items(n: int) -> list[dict]:
    return [{"id": f"i{k}", "text": "halo"} for k in range(n)]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"items": [{"id": "a", "text": ""}]}, 422, "items[0].text"),
        ({"items": [{"id": "a", "text": " \n\t "}]}, 422, "items[0].text"),
        ({"items": [{"id": "a", "text": "x" * 61}]}, 422, "items[0].text"),
        ({"items": [{"id": "a", "text": "ok"}, {"id": "b", "text": 123}]}, 422, "items[1].text"),
        ({"items": [{"id": "a"}]}, 422, "items[0].text"),
        ({"items": _items(9)}, 422, "items"),
        ({"items": []}, 422, "items"),
        ({"items": "halo"}, 422, "items"),
        ({}, 422, "items"),
        ({"items": [{"id": "a", "text": "halo", "surface": "dm"}]}, 422, "items[0].surface"),
        ({"items": [{"id": "", "text": "halo"}]}, 422, "items[0].id"),
        ({"items": [{"id": "x" * 17, "text": "halo"}]}, 422, "items[0].id"),
        ({"items": [{"id": 7, "text": "halo"}]}, 422, "items[0].id"),
        ({"items": [{"id": None, "text": "halo"}]}, 422, "items[0].id"),
        ({"items": [{"id": "a", "text": "halo", "author_id": "y" * 17}]}, 422, "items[0].author_id"),
        ({"items": [{"id": "a", "text": "halo", "mood": "happy"}]}, 422, "items[0].mood"),
        ({"items": [{"id": "a", "text": "halo"}], "extra": 1}, 422, "extra"),
        ({"items": [{"id": "a", "text": "halo"}, {"id": "a", "text": "lagi"}]}, 422, "items"),
        ([{"id": "a", "text": "halo"}], 422, "body"),
        ("halo", 422, "body"),
        (42, 422, "body"),
        (None, 422, "body"),
    ],
    ids=[
        "empty-text",
        "whitespace-text",
        "too-long-text",
        "text-not-string",
        "missing-text",
        "too-many-items",
        "zero-items",
        "items-not-list",
        "missing-items",
        "unknown-surface",
        "empty-id",
        "too-long-id",
        "id-not-string",
        "id-null",
        "too-long-author-id",
        "unknown-item-field",
        "unknown-top-field",
        "duplicate-ids",
        "array-body",
        "string-body",
        "number-body",
        "null-body",
    ],
)
def test_invalid_request_is_4xx_naming_the_field(client, payload, status, field) -> None:
    raw = json.dumps(payload).encode()  # not json=: httpx sends no body at all for json=None
    response = client.post("/v1/classify", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["field"] == field
    assert field in body["error"]["message"]
    assert body["error"]["code"] == "invalid_request"
    assert body["request_id"] == response.headers["x-request-id"]


def test_duplicate_id_message_names_both_items(client) -> None:
    items = [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}]
    message = post(client, {"items": items}).json()["error"]["message"]
    assert "items[2].id repeats items[0].id" in message


def test_every_problem_is_listed(client) -> None:
    items = [{"id": "a", "text": ""}, {"id": "b", "text": "ok", "surface": "dm"}]
    error = post(client, {"items": items}).json()["error"]
    assert [p["field"] for p in error["problems"]] == ["items[0].text", "items[1].surface"]
    assert "(and 1 more problem(s))" in error["message"]


@pytest.mark.parametrize(
    "raw",
    [b'{"items": [', b"{items: []}", b'{"items": [{"id": "a", "text": "x"}]', b"\xff\xfe", b"[" * 4000],
    ids=["truncated", "unquoted-key", "unclosed", "not-utf8", "deeply-nested"],
)
def test_broken_json_is_400(client, raw) -> None:
    response = client.post("/v1/classify", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error == {**error, "code": "invalid_json", "field": "body"}
    assert "JSON" in error["message"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/xml"]
)
def test_wrong_content_type_is_415(client, content_type) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/v1/classify", content=json.dumps({"items": ITEMS}).encode(), headers=headers)
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert error["field"] == "header.content-type"
    assert "application/json" in error["message"]


def test_json_with_charset_is_accepted(client) -> None:
    response = client.post(
        "/v1/classify",
        content=json.dumps({"items": ITEMS[:1]}).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_huge_body_is_413_before_parsing(client, fake_model) -> None:
    payload = json.dumps({"items": [{"id": "a", "text": "x" * 10_000}]}).encode()
    response = client.post("/v1/classify", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("body_too_large", "body")
    assert "4096 bytes" in error["message"]
    assert fake_model.batch_sizes == []


def test_huge_body_without_content_length_is_413(client) -> None:
    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    response = client.post("/v1/classify", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("value", [b"abc", b"-1", b"\xb2"], ids=["letters", "negative", "superscript-two"])
def test_bad_content_length_is_400(client, value) -> None:
    headers = {"content-type": "application/json", "content-length": value}
    response = client.post("/v1/classify", content=b"{}", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "header.content-length"


def test_client_disconnecting_mid_body_gets_no_answer_and_no_error(fake_model) -> None:
    app = create_app(small_settings(), model_loader=lambda _s: fake_model)
    incoming = [
        {"type": "http.request", "body": b'{"items": [', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/classify",
        "raw_path": b"/v1/classify",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent == []
    exposition = app.state.metrics.render()[0].decode()
    assert 'tegur_http_requests_total{method="POST",route="unmatched",status="499"} 1.0' in exposition
    assert app.state.in_flight.requests == 0


def test_limits_follow_the_settings(fake_model) -> None:
    app = create_app(small_settings(max_text_chars=5, max_batch_items=2), model_loader=lambda _s: fake_model)
    with TestClient(app) as client:
        assert post(client, {"items": [{"id": "a", "text": "12345"}]}).status_code == 200
        assert post(client, {"items": [{"id": "a", "text": "123456"}]}).status_code == 422
        assert post(client, {"items": _items(2)}).status_code == 200
        assert post(client, {"items": _items(3)}).status_code == 422
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        assert schema["ClassifyRequest"]["properties"]["items"]["maxItems"] == 2
        assert schema["ClassifyItem"]["properties"]["text"]["maxLength"] == 5


def test_unknown_route_and_method_use_the_error_body(client) -> None:
    response = client.get("/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = client.get("/v1/classify")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"


def test_queue_full_is_503_with_retry_after(client, monkeypatch) -> None:
    async def refuse(texts):
        raise QueueFullError("4096 texts already waiting; the limit is 4096")

    monkeypatch.setattr(client.app.state.serving.batcher, "submit", refuse)
    response = post(client, {"items": ITEMS[:1]})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "overloaded"
    assert "tegur_overload_rejections_total 1.0" in client.get("/metrics").text


def test_unexpected_error_is_500_with_request_id(fake_model, caplog) -> None:
    class Broken(FakeModel):
        def predict_proba(self, texts, batch_size=64):
            raise RuntimeError("boom")

    app = create_app(small_settings(), model_loader=lambda _s: Broken())
    with TestClient(app) as client:
        response = post(client, {"items": ITEMS[:1]}, **{"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == "trace-500" == response.headers["x-request-id"]
    assert body["error"]["code"] == "internal_error"
    assert "trace-500" in body["error"]["message"]
    assert "boom" not in body["error"]["message"]  # internals stay in the log


# ---------------------------------------------------------------------------------------------------------
# request id and logging


def test_request_id_is_echoed_when_sane_and_generated_otherwise(client) -> None:
    response = post(client, {"items": ITEMS[:1]}, **{"X-Request-ID": "abc-123.x:y_z"})
    assert response.headers["x-request-id"] == "abc-123.x:y_z" == response.json()["request_id"]
    for bad in ["has space", "x" * 200, "<script>", "ünï"]:
        response = client.get("/healthz", headers={"X-Request-ID": bad.encode("utf-8")})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_raw_texts_are_not_logged_by_default(client, caplog) -> None:
    secret = "nomorku 0812 rahasia sekali"
    with caplog.at_level(logging.DEBUG):
        response = post(client, {"items": [{"id": "p1", "text": secret}]}, **{"X-Request-ID": "log-check"})
    assert response.status_code == 200
    assert "rahasia" not in caplog.text
    access = [r.getMessage() for r in caplog.records if r.name == "tegur.access"]
    assert any(
        "request_id=log-check" in line and "status=200" in line and "items=1" in line for line in access
    )


def test_raw_texts_are_logged_when_enabled(fake_model, caplog) -> None:
    app = create_app(small_settings(log_texts=True), model_loader=lambda _s: fake_model)
    with TestClient(app) as client, caplog.at_level(logging.INFO):
        post(client, {"items": [{"id": "p1", "text": "teks untuk debug"}]})
    assert "teks untuk debug" in caplog.text


# ---------------------------------------------------------------------------------------------------------
# health, readiness, metrics


def test_healthz_answers_before_and_after_load(fake_model) -> None:
    app = create_app(small_settings(), model_loader=lambda _s: fake_model)
    not_started = TestClient(app)  # no `with`: the lifespan has not run, the model is not loaded
    assert not_started.get("/healthz").json() == {"status": "ok", "model": None}
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200


def test_readyz_is_503_until_the_model_is_loaded(fake_model) -> None:
    app = create_app(small_settings(), model_loader=lambda _s: fake_model)
    not_started = TestClient(app)
    response = not_started.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert response.headers["retry-after"] == "1"
    response = post(not_started, {"items": ITEMS[:1]})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_ready"
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "model": {"name": "fake-tegur", "version": "0.0.1", "normalizer_version": "norm-1"},
        }
    # After shutdown the app is not ready again.
    assert TestClient(app).get("/readyz").status_code == 503


def test_metrics_exposition_after_a_request(client) -> None:
    assert post(client, {"items": ITEMS}).status_code == 200
    assert post(client, {"items": []}).status_code == 422
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    expected = [
        'tegur_http_requests_total{method="POST",route="/v1/classify",status="200"} 1.0',
        'tegur_http_requests_total{method="POST",route="/v1/classify",status="422"} 1.0',
        'tegur_http_request_duration_seconds_count{method="POST",route="/v1/classify"} 2.0',
        'tegur_classified_items_total{surface="comment"} 3.0',
        'tegur_classified_items_total{surface="live_chat"} 2.0',
        'tegur_flagged_items_total{label="off_platform_redirection"} 1.0',
        'tegur_flagged_items_total{label="pity_bait"} 1.0',
        'tegur_flagged_items_total{label="bullying"} 1.0',
        'tegur_flagged_items_total{label="sexual_solicitation"} 0.0',
        'tegur_actions_total{action="remove"} 1.0',
        'tegur_actions_total{action="review"} 2.0',
        'tegur_actions_total{action="allow"} 2.0',
        "tegur_classify_request_items_sum 5.0",
        "tegur_model_batch_items_sum 5.0",
        "tegur_model_batch_requests_count 1.0",
        "tegur_model_call_duration_seconds_count 1.0",
        "tegur_model_ready 1.0",
        'tegur_model_info{name="fake-tegur",normalizer_version="norm-1",version="0.0.1"} 1.0',
        "tegur_queue_items 0.0",
    ]
    missing = [line for line in expected if line not in text]
    assert not missing, missing


def test_each_app_has_its_own_metrics(fake_model) -> None:
    first = create_app(small_settings(), model_loader=lambda _s: fake_model)
    second = create_app(small_settings(), model_loader=lambda _s: fake_model)
    with TestClient(first) as a, TestClient(second) as b:
        post(a, {"items": ITEMS[:1]})
        assert 'tegur_classified_items_total{surface="comment"} 0.0' in b.get("/metrics").text


# ---------------------------------------------------------------------------------------------------------
# OpenAPI, startup, settings, CLI


def test_openapi_shows_indonesian_examples_and_error_responses(client) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/classify"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert {"comments_and_live_chat", "single_live_chat_line", "stricter_thresholds"} <= set(examples)
    texts = [item["text"] for example in examples.values() for item in example["value"]["items"]]
    assert any("cek bio" in text for text in texts)
    assert {"200", "400", "413", "415", "422", "503"} <= set(operation["responses"])
    assert spec["components"]["schemas"]["ClassifyRequest"]["examples"]


def test_startup_fails_when_the_model_cannot_load(tmp_path) -> None:
    def broken_loader(_settings):
        raise ArtifactError(f"{tmp_path} is not a Tegur artifact: missing tegur.json")

    app = create_app(small_settings(), model_loader=broken_loader)
    with pytest.raises(ArtifactError, match=r"missing tegur\.json"), TestClient(app):
        pass


def test_default_loader_needs_a_model_dir() -> None:
    app = create_app(small_settings(model_dir=None))
    with pytest.raises(ConfigError, match="TEGUR_MODEL_DIR"), TestClient(app):
        pass


def test_settings_are_read_from_tegur_env_vars(monkeypatch) -> None:
    monkeypatch.setenv("TEGUR_MAX_TEXT_CHARS", "500")
    monkeypatch.setenv("TEGUR_THRESHOLD_BOUNDS", "[0.1, 0.8]")
    monkeypatch.setenv("TEGUR_PRECISION", "int8")
    settings = load_settings()
    assert settings.max_text_chars == 500
    assert settings.threshold_bounds == (0.1, 0.8)
    assert settings.precision.value == "int8"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"TEGUR_MAX_TEXT_CHARS": "many"}, ["TEGUR_MAX_TEXT_CHARS"]),
        ({"TEGUR_PRECISION": "fp8"}, ["TEGUR_PRECISION"]),
        ({"TEGUR_QUEUE_LIMIT": "0"}, ["TEGUR_QUEUE_LIMIT"]),
        (
            {"TEGUR_REVIEW_BAND": "0.95", "TEGUR_REMOVE_BAND": "0.9"},
            ["TEGUR_REVIEW_BAND", "TEGUR_REMOVE_BAND"],
        ),
        ({"TEGUR_THRESHOLD_BOUNDS": "[0.9, 0.1]"}, ["TEGUR_THRESHOLD_BOUNDS"]),
        ({"TEGUR_THRESHOLD_BOUNDS": "low,high"}, ["TEGUR_THRESHOLD_BOUNDS"]),
    ],
)
def test_invalid_settings_name_the_env_var(monkeypatch, env, names) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    for name in names:
        assert name in str(info.value)


def test_serve_refuses_a_folder_that_is_not_an_artifact(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tegur.cli import app

    result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path)])
    assert isinstance(result.exception, ArtifactError)
    assert "not a Tegur artifact" in str(result.exception)


# ---------------------------------------------------------------------------------------------------------
# The app on a real tiny artifact (the predictor, its tokenizer and normaliser; untrained weights).


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_untrained_artifact(tmp_path_factory.mktemp("artifacts") / "untrained")


@pytest.fixture(scope="module")
def real_client(tiny_artifact: Path):
    settings = small_settings(model_dir=tiny_artifact, max_text_chars=2000, max_body_bytes=1_048_576)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_real_tiny_model_is_ready_and_describes_itself(real_client) -> None:
    response = real_client.get("/readyz")
    assert response.status_code == 200
    model = response.json()["model"]
    assert model["name"] == "untrained"
    assert model["version"] and model["normalizer_version"]


def test_real_tiny_model_classifies(real_client) -> None:
    response = post(real_client, {"items": ITEMS, "thresholds": {"bullying": 0.3}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"]["name"] == "untrained"
    thresholds = body["thresholds"]
    assert thresholds == {**dict.fromkeys(LABEL_NAMES, 0.5), "bullying": 0.3}
    for result in body["results"]:
        assert list(result["scores"]) == list(LABEL_NAMES)
        assert all(0.0 <= s <= 1.0 for s in result["scores"].values())
        flagged = [name for name in LABEL_NAMES if result["scores"][name] >= thresholds[name]]
        assert result["labels"] == flagged
        assert result["action"] == expected_action(result["scores"], flagged, 0.5, 0.9)
    # Batched through the API or scored alone in-process: the same scores.
    from inference.predictor import Predictor

    alone = Predictor.from_artifact(real_client.app.state.settings.model_dir).predict_proba(
        [ITEMS[1]["text"]]
    )
    assert list(body["results"][1]["scores"].values()) == pytest.approx(alone[0].tolist(), abs=1e-5)


@pytest.mark.parametrize(
    "text",
    [
        "🔥🔥🔥 mantul kak 😍",
        "cek\u200bbio\u200b ya",  # zero-width spaces
        "a\x00b\x01c",  # control characters
        "ا" * 50 + " مرحبا",  # right-to-left script
        "e\u0301\u0301\u0301" * 40,  # stacked combining marks
        "x" * 2000,  # one 2000-character "word"
        "\ufeff\ufffd\U0010ffff",
        "WA 08xx-xxxx-xxxx  t.me/xxx  @akun_xxx  https://bit.ly/xxx",
    ],
    ids=["emoji", "zero-width", "control", "rtl", "combining", "long-word", "odd-codepoints", "contacts"],
)
def test_real_tiny_model_survives_odd_text(real_client, text) -> None:
    response = post(real_client, {"items": [{"id": "odd", "text": text}]})
    assert response.status_code == 200, response.text


def test_real_tiny_model_limits_and_metrics(real_client) -> None:
    assert post(real_client, {"items": _items(9)}).status_code == 422
    assert post(real_client, {"items": [{"id": "a", "text": "   "}]}).status_code == 422
    assert post(real_client, {"items": _items(8)}).status_code == 200
    text = real_client.get("/metrics").text
    assert 'tegur_model_info{name="untrained"' in text
    assert "tegur_model_ready 1.0" in text
    assert 'tegur_http_requests_total{method="POST",route="/v1/classify",status="422"}' in text


def test_every_result_carries_the_minor_signal_and_grooming_escalates(client) -> None:
    items = [
        {"id": "a", "text": "dek umur brp? wa aktif nih", "surface": "live_chat"},
        {"id": "b", "text": "wa aktif kak, order disini", "surface": "comment"},
        {"id": "c", "text": "aku masih SMP kak", "surface": "live_chat"},
    ]
    response = post(client, {"items": items})
    assert response.status_code == 200, response.text
    a, b, c = response.json()["results"]
    assert a["minor_signal"]["flag"] and "age_question_to_child" in a["minor_signal"]["reasons"]
    assert a["action"] == "escalate" and a["labels"] == ["off_platform_redirection"]
    assert b["minor_signal"] == {"flag": False, "reasons": []} and b["action"] == "remove"
    assert c["minor_signal"]["flag"] and c["action"] == "allow"
