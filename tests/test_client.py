"""``tegur.client.TegurClient`` against the real app (FakeModel scores, a real strike ledger)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from inference.moderation import ModerateResponse
from inference.schemas import ClassifyResponse
from strikes.schemas import AccountStatusOut, DecisionOut
from tegur.client import TegurApiError, TegurClient
from tegur.errors import TegurError
from tests.test_moderation import CLASSIFIER_KEY, KEY, as_account, moderation_app

# FakeModel: "wa aktif" -> remove, "jelek" and "gift" -> review, others -> allow.
CHAT = [
    "wa aktif 24 jam kak",
    "makasih kak semangat",
    "dasar jelek lu",
    "kak tolong gift dong",
    "salam dari bandung",
]


@pytest.fixture
def app(tmp_path, repo_root):
    return moderation_app(tmp_path, repo_root)


@pytest.fixture
def http(app):
    bodies: list[int] = []
    with TestClient(app) as test_client:
        test_client.event_hooks["request"].append(lambda request: bodies.append(len(request.content)))
        test_client.bodies = bodies  # type: ignore[attr-defined]
        yield test_client


def test_classify_batches_within_the_server_limits_and_keeps_order(http) -> None:
    tegur = TegurClient(http_client=http, max_batch_items=8)
    texts = [CHAT[i % len(CHAT)] + f" #{i}" for i in range(21)]
    result = tegur.classify(texts)
    assert isinstance(result, ClassifyResponse)
    assert [r.id for r in result.results] == [str(i) for i in range(21)]
    expected = ["remove", "allow", "review", "review", "allow"]
    assert [r.action.value for r in result.results] == [expected[i % 5] for i in range(21)]
    assert len(http.bodies) == 3  # 8 + 8 + 5 items (the server allows 8)
    metrics = http.get("/metrics").text
    assert "tegur_classify_request_items_count 3.0" in metrics
    assert 'tegur_http_requests_total{method="POST",route="/v1/classify",status="200"} 3.0' in metrics

    # Bodies stay within the byte limit too, counted as the server counts them (UTF-8).
    http.bodies.clear()
    small = TegurClient(http_client=http, max_body_bytes=1024)
    mixed = [{"id": f"m{i}", "text": "é🙏 " * 12, "surface": "live_chat"} for i in range(20)]
    assert len(small.classify(mixed, thresholds={"bullying": 0.3}).results) == 20
    assert len(http.bodies) > 2 and max(http.bodies) <= 1024


def test_item_too_big_for_any_request_is_refused_before_sending(http) -> None:
    tegur = TegurClient(http_client=http, max_body_bytes=1024)
    with pytest.raises(ValueError, match=r"alone is .* bytes, over the request limit of 1024"):
        tegur.classify(["x" * 2000])
    with pytest.raises(ValueError, match="items is empty"):
        tegur.classify([])
    with pytest.raises(TypeError, match="not one string"):
        tegur.classify("satu teks")  # type: ignore[arg-type]
    assert http.bodies == []


def test_errors_carry_the_service_code_field_and_request_id(http) -> None:
    tegur = TegurClient(http_client=http)
    with pytest.raises(TegurApiError) as info:
        tegur.classify([{"id": "a", "text": "halo", "surface": "radio"}])
    error = info.value
    assert (error.status_code, error.code, error.field) == (422, "invalid_request", "items[0].surface")
    assert error.request_id and error.request_id in str(error)
    with pytest.raises(TegurApiError) as info:
        tegur.reviews()
    assert info.value.status_code == 401 and "X-API-Key" in info.value.message


def test_moderate_and_the_strike_routes(http) -> None:
    classifier = TegurClient(http_client=http, api_key=CLASSIFIER_KEY)
    moderator = TegurClient(http_client=http, api_key=KEY)
    account = TegurClient(http_client=http, account_token=as_account("akun-1")["Authorization"][7:])
    reporter = TegurClient(http_client=http, account_token=as_account("akun-9")["Authorization"][7:])
    posted = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)

    items = [
        {"id": f"msg-{n}", "text": "wa aktif 24 jam", "author_id": "akun-1", "occurred_at": posted}
        for n in range(2)
    ]
    moderated = classifier.moderate(items)
    assert isinstance(moderated, ModerateResponse)
    decisions = [r.enforcement.decision.value for r in moderated.results if r.enforcement]
    assert decisions == ["warning", "strike"]

    decision = moderator.record_violation(
        "akun-1", policy="bullying", feature="comment", content_id="c-77", evidence={"bullying": 0.93}
    )
    # The second counting strike on comments restricts them (configs/strikes.yaml: after_strikes 2).
    assert isinstance(decision, DecisionOut) and decision.decision.value == "restriction"

    status = account.account("akun-1")
    assert isinstance(status, AccountStatusOut)
    assert status.account_id == "akun-1" and len(status.history) == 3
    assert status.history_total == 3
    assert len(moderator.moderator_account("akun-1", limit=2).history) == 2
    page = account.notifications("akun-1", limit=2)
    assert len(page.items) == 2 and page.next_after is not None
    assert account.notifications("akun-1", after=page.next_after).items

    restriction = decision.new_penalties[0].no
    with pytest.raises(TegurApiError) as info:  # a restriction is not a review hold
        moderator.act_on_penalty("akun-1", restriction, "confirm_ban", reason="spam")
    assert info.value.status_code == 409

    appeal = account.appeal(decision.strike_id, "itu bukan aku, akun aku dipinjam adik")
    assert appeal.strike_id == decision.strike_id
    decided = moderator.decide_appeal(appeal.id, "overturn", note="konteks bercanda antar teman")
    assert decided.appeal.status.value == "overturned"
    assert [p.no for p in decided.lifted_penalties] == [p.no for p in decision.new_penalties]

    report = reporter.report("akun-1", policy="off_platform_redirection", feature="live", details="spam wa")
    assert [r.id for r in reporter.my_reports()] == [report.id]
    assert [r.id for r in moderator.open_reports()] == [report.id]
    resolution = moderator.resolve_report(report.id, "dismissed", note="sudah ditangani")
    assert resolution.enforcement is None
    assert moderator.reviews() == []
    assert classifier.health().status == "ok" and classifier.ready() is True


def test_503_and_429_are_retried_with_backoff_honouring_retry_after() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"code": "slow_down"}}),
            httpx.Response(503, headers={"Retry-After": "1"}, json={"error": {"code": "overloaded"}}),
            httpx.Response(200, json={"status": "ok", "model": None}),
        ]
    )
    sleeps: list[float] = []
    http = httpx.Client(base_url="http://tegur", transport=httpx.MockTransport(lambda _r: next(answers)))
    tegur = TegurClient(http_client=http, sleep=sleeps.append, backoff_s=0.1)
    assert tegur.health().status == "ok"
    assert sleeps[0] >= 2 and sleeps[1] >= 1 and len(sleeps) == 2


def test_connection_failures_are_retried_then_reported() -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    sleeps: list[float] = []
    http = httpx.Client(base_url="http://tegur", transport=httpx.MockTransport(refuse))
    tegur = TegurClient(http_client=http, sleep=sleeps.append, max_retries=2, backoff_s=0.2)
    with pytest.raises(TegurError, match="cannot reach the service"):
        tegur.health()
    assert len(calls) == 3 and len(sleeps) == 2
    assert 0.1 <= sleeps[0] <= 0.2 and 0.2 <= sleeps[1] <= 0.4  # doubling, with jitter


def test_model_not_loaded_is_retried_then_raised(app) -> None:
    # Without its lifespan the app has no model: /v1/classify answers 503 not_ready, Retry-After 1.
    sleeps: list[float] = []
    tegur = TegurClient(http_client=TestClient(app), sleep=sleeps.append, max_retries=2)
    with pytest.raises(TegurApiError) as info:
        tegur.classify(["halo"])
    assert (info.value.status_code, info.value.code) == (503, "not_ready")
    assert len(sleeps) == 2 and min(sleeps) >= 1


def test_requests_are_json_in_utf8_with_the_credentials() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok", "model": None})

    http = httpx.Client(base_url="http://tegur", transport=httpx.MockTransport(answer))
    TegurClient(http_client=http, api_key="k" * 20).health()
    TegurClient(http_client=http, account_token="tok").health()
    assert seen[0].headers["X-API-Key"] == "k" * 20 and "authorization" not in seen[0].headers
    assert seen[1].headers["Authorization"] == "Bearer tok"
