"""The strike API in a minimal FastAPI app: auth, validation, error mapping and the full scenario."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from strikes.api import router, strike_lifespan
from strikes.identity import sign_account_token
from strikes.policy import StrikePolicy
from strikes.service import StrikeService
from strikes.settings import get_strike_settings, load_strike_settings
from strikes.storage import StrikeStore, sqlite_url
from strikes.testing import Clock, migrated_database, reset_database

KEY = "test-moderator-key-0123456789"
CLASSIFIER_KEY = "test-classifier-key-0123456789"
SECRET = "platform-shared-secret-0123456789abcdef"
MODERATOR = {"X-API-Key": KEY}
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def as_account(account: str, secret: str = SECRET, expires: datetime = T0 + timedelta(days=3650)) -> dict:
    """The headers of a request the platform vouches for."""
    return {"Authorization": f"Bearer {sign_account_token(secret, account, expires)}"}


ACCOUNT = as_account("acct-42")


def _settings(**overrides: Any):
    values = {
        "moderator_api_keys": [f"mod-1={KEY}"],
        "classifier_api_keys": [f"tegur-model={CLASSIFIER_KEY}"],
        "account_token_secret": SECRET,
        **overrides,
    }
    return load_strike_settings(**values)


def _app(service: StrikeService | None) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    if service is not None:
        app.state.strike_service = service
    app.dependency_overrides[get_strike_settings] = lambda: _settings()
    return app


def _client(url: str, policy: StrikePolicy, clock: Clock) -> Iterator[TestClient]:
    store = StrikeStore(url)
    reset_database(store)
    service = StrikeService(store, policy, clock=clock)
    with TestClient(_app(service)) as client:
        yield client
    service.close()


@pytest.fixture()
def clock() -> Clock:
    return Clock(T0 + timedelta(days=10))


@pytest.fixture(scope="module")
def sqlite_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database("sqlite", tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture()
def any_client(migrated_url: str, policy: StrikePolicy, clock: Clock) -> Iterator[TestClient]:
    """A client on each backend, for the scenario."""
    yield from _client(migrated_url, policy, clock)


@pytest.fixture()
def client(sqlite_db_url: str, policy: StrikePolicy, clock: Clock) -> Iterator[TestClient]:
    """A client on SQLite, for the auth, validation and error-mapping tests."""
    yield from _client(sqlite_db_url, policy, clock)


def violation(
    content: str, policy: str = "bullying", feature: str = "comment", hours: float = 0, **extra: Any
) -> dict:
    body = {
        "account_id": "acct-42",
        "policy": policy,
        "feature": feature,
        "content_id": content,
        "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
        "evidence": {"bullying": 0.97},
    }
    return {**body, **extra}


def test_scenario_violations_ban_appeal_reinstatement(any_client: TestClient, clock: Clock) -> None:
    client = any_client
    steps = [
        (violation("m1", "pity_bait", hours=0), "warning", "first_violation_warning"),
        (violation("m2", hours=1), "strike", "strike"),
        (violation("m3", hours=2), "restriction", "restriction_ladder"),
        (violation("m4", "sexual_solicitation", "live", hours=3), "strike", "strike"),
        (violation("m5", feature="live", hours=4), "restriction", "restriction_ladder"),
        (violation("m6", hours=5), "permanent_ban", "policy_threshold"),
    ]
    ids = []
    for body, decision, rule in steps:
        # Moderators decide a few minutes after the content was posted.
        clock.now = datetime.fromisoformat(body["occurred_at"]) + timedelta(minutes=5)
        response = client.post("/v1/violations", json=body, headers=MODERATOR)
        assert response.status_code == 201, response.text
        out = response.json()
        assert (out["decision"], out["rule"]["rule"]) == (decision, rule)
        ids.append(out["strike_id"])
        if body["content_id"] == "m3":
            # Restrictions run from when the violation is recorded (issue #11), 5 minutes after posting.
            assert out["account"]["restricted_until"] == {"comment": "2024-05-02T12:05:00Z"}
        if body["content_id"] == "m5":  # bullying 3 of 4
            kinds = [n["kind"] for n in out["notifications"]]
            assert kinds == ["strike_issued", "restriction_applied", "near_ban"]
    ban_id = ids[-1]

    status = client.get("/v1/accounts/acct-42", headers=ACCOUNT).json()
    assert status["banned"] is True
    assert status["ban"]["rule"]["message"] == (
        "4 active bullying strikes reached the bullying ban threshold of 4"
    )
    assert status["active_by_policy"] == {"bullying": 4, "sexual_solicitation": 1}
    assert status["active_by_feature"] == {"comment": 3, "live": 2}
    assert [s["kind"] for s in status["history"]] == ["warning"] + ["strike"] * 5
    assert all(s["expires_at"] for s in status["active_strikes"])

    repeat = client.post("/v1/violations", json=steps[-1][0], headers=MODERATOR)
    assert repeat.status_code == 200
    assert (repeat.json()["decision"], repeat.json()["strike_id"]) == ("duplicate", ban_id)
    assert repeat.json()["original_decision"] == "permanent_ban"
    assert [n["kind"] for n in repeat.json()["notifications"]] == ["strike_issued", "account_banned"]

    appeal = client.post(
        f"/v1/strikes/{ban_id}/appeal", json={"reason": "that was my brother"}, headers=ACCOUNT
    )
    assert appeal.status_code == 201, appeal.text
    assert appeal.json()["status"] == "pending"
    second = client.post(f"/v1/strikes/{ban_id}/appeal", json={"reason": "again"}, headers=ACCOUNT)
    assert second.status_code == 409
    assert "appeal a strike once" in second.json()["detail"]

    decided_at = clock.now = clock.now + timedelta(days=1)
    decision = client.post(
        f"/v1/appeals/{appeal.json()['id']}/decision",
        json={"outcome": "overturn", "note": "account compromised"},
        headers=MODERATOR,
    )
    assert decision.status_code == 200, decision.text
    out = decision.json()
    assert out["appeal"]["status"] == "overturned"
    assert out["appeal"]["moderator"] == "mod-1"  # named by the key, not by the body
    assert [p["kind"] for p in out["lifted_penalties"]] == ["permanent_ban"]
    assert [n["kind"] for n in out["notifications"]] == ["strike_overturned", "ban_lifted", "near_ban"]

    reinstated = client.get("/v1/accounts/acct-42", headers=ACCOUNT).json()
    assert reinstated["banned"] is False
    assert reinstated["active_by_policy"] == {"bullying": 3, "sexual_solicitation": 1}
    assert next(s for s in reinstated["history"] if s["id"] == ban_id)["status"] == "overturned"
    remaining = {(t["scope"], t["name"]): t["remaining"] for t in reinstated["thresholds"]}
    assert remaining[("policy", "bullying")] == 1
    lifted = [p for p in reinstated["penalty_history"] if p["status"] == "lifted"]
    assert [p["kind"] for p in lifted] == ["permanent_ban"]

    before = client.get(
        "/v1/accounts/acct-42",
        params={"as_of": (decided_at - timedelta(hours=1)).isoformat()},
        headers=ACCOUNT,
    )
    assert before.json()["banned"] is True
    # The account never sees the moderator's internal note.
    assert "account compromised" not in client.get("/v1/accounts/acct-42", headers=ACCOUNT).text
    assert "account compromised" in client.get("/v1/moderation/accounts/acct-42", headers=MODERATOR).text
    # Every notice it was sent is stored, in order, behind a cursor.
    page = client.get("/v1/accounts/acct-42/notifications", params={"limit": 3}, headers=ACCOUNT).json()
    assert [n["kind"] for n in page["items"]] == ["warning_issued", "strike_issued", "strike_issued"]
    rest = client.get(
        "/v1/accounts/acct-42/notifications", params={"after": page["next_after"]}, headers=ACCOUNT
    ).json()
    assert [n["kind"] for n in rest["items"]][-3:] == ["strike_overturned", "ban_lifted", "near_ban"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("post", "/v1/violations", violation("m1"), id="violations"),
        pytest.param("post", "/v1/appeals/1/decision", {"outcome": "uphold"}, id="decision"),
        pytest.param("get", "/v1/reviews", None, id="reviews"),
    ],
)
@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        pytest.param(
            {}, 401, "moderator endpoint: send a moderator API key in the X-API-Key header", id="no-key"
        ),
        pytest.param({"X-API-Key": "wrong-key-0123456789"}, 403, "invalid moderator API key", id="wrong-key"),
    ],
)
def test_moderator_endpoints_need_a_key(
    client: TestClient, method: str, path: str, body: dict, headers: dict, status: int, detail: str
) -> None:
    response = client.request(method.upper(), path, json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["detail"] == detail


def test_moderator_endpoints_are_off_without_configured_keys(client: TestClient) -> None:
    client.app.dependency_overrides[get_strike_settings] = lambda: _settings(moderator_api_keys=[])
    response = client.post("/v1/violations", json=violation("m1"), headers=MODERATOR)
    assert response.status_code == 403
    assert "TEGUR_MODERATOR_API_KEYS" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(violation("m1", occurred_at="2024-05-01T10:00:00"), "timezone", id="naive-time"),
        pytest.param(violation("m1", policy="spam"), "bullying", id="unknown-policy"),
        pytest.param(violation("m1", feature="story"), "comment", id="unknown-feature"),
        pytest.param(
            violation("m1", source="classifier"), "Extra inputs are not permitted", id="extra-field"
        ),
        pytest.param(violation("m1", content_id=""), "at least 1 character", id="empty-content"),
        pytest.param(violation("m1", hours=24 * 30), "is in the future", id="future"),
    ],
)
def test_invalid_violations_are_422(client: TestClient, body: dict, fragment: str) -> None:
    response = client.post("/v1/violations", json=body, headers=MODERATOR)
    assert response.status_code == 422
    assert fragment in response.text


def test_violation_time_defaults_to_now(client: TestClient, clock: Clock) -> None:
    body = violation("m1")
    del body["occurred_at"]
    assert client.post("/v1/violations", json=body, headers=MODERATOR).status_code == 201
    history = client.get("/v1/accounts/acct-42", headers=ACCOUNT).json()["history"]
    assert history[0]["occurred_at"] == clock.now.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        pytest.param(
            "post", "/v1/strikes/999/appeal", {"reason": "x"}, 404, "strike 999 not found", id="strike"
        ),
        pytest.param(
            "post",
            "/v1/appeals/999/decision",
            {"outcome": "overturn"},
            404,
            "appeal 999 not found",
            id="appeal",
        ),
    ],
)
def test_unknown_ids_are_404(
    client: TestClient, method: str, path: str, body: dict, status: int, detail: str
) -> None:
    response = client.request(method.upper(), path, json=body, headers={**MODERATOR, **ACCOUNT})
    assert (response.status_code, response.json()["detail"]) == (status, detail)


def test_second_appeal_decision_is_409(client: TestClient) -> None:
    strike = client.post("/v1/violations", json=violation("m1"), headers=MODERATOR).json()["strike_id"]
    appeal = client.post(f"/v1/strikes/{strike}/appeal", json={"reason": "x"}, headers=ACCOUNT).json()["id"]
    body = {"outcome": "uphold"}
    assert client.post(f"/v1/appeals/{appeal}/decision", json=body, headers=MODERATOR).status_code == 200
    again = client.post(f"/v1/appeals/{appeal}/decision", json=body, headers=MODERATOR)
    assert again.status_code == 409
    assert "decisions are final" in again.json()["detail"]


def test_account_status_validation(client: TestClient) -> None:
    nobody = as_account("nobody")
    assert client.get("/v1/accounts/nobody", headers=nobody).json()["banned"] is False
    naive = client.get("/v1/accounts/nobody", params={"as_of": "2024-05-01T00:00:00"}, headers=nobody)
    assert naive.status_code == 422
    assert "timezone" in naive.text
    assert client.get("/v1/moderation/accounts/" + "x" * 129, headers=MODERATOR).status_code == 422


def test_service_not_started_is_503() -> None:
    with TestClient(_app(None)) as client:
        response = client.get("/v1/moderation/accounts/a", headers=MODERATOR)
    assert response.status_code == 503
    assert "strike_lifespan" in response.json()["detail"]


def test_lifespan_opens_and_migrates_the_configured_database(tmp_path: Path, repo_root: Path) -> None:
    url = sqlite_url(tmp_path / "served.db")
    app = FastAPI(lifespan=strike_lifespan)
    app.include_router(router)
    app.dependency_overrides[get_strike_settings] = lambda: _settings(
        database_url=url, policy_path=repo_root / "configs" / "strikes.yaml"
    )
    with TestClient(app) as client:
        assert client.get("/v1/accounts/a", headers=as_account("a")).status_code == 200
        assert isinstance(app.state.strike_service, StrikeService)
    store = StrikeStore(url)
    try:
        assert store.current_revision() == store.head_revision()
    finally:
        store.close()


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/v1/violations",
        "/v1/accounts/{account_id}",
        "/v1/accounts/{account_id}/notifications",
        "/v1/moderation/accounts/{account_id}",
        "/v1/accounts/{account_id}/penalties/{penalty_no}/action",
        "/v1/strikes/{strike_id}/appeal",
        "/v1/appeals/{appeal_id}/decision",
        "/v1/reviews",
        "/v1/reports",
        "/v1/moderation/reports",
        "/v1/reports/{report_id}/resolution",
    }


@pytest.mark.parametrize("record_id", ["0", "-1", str(2**63), "2137870130527683477373367401461055488"])
def test_out_of_range_ids_are_422(client: TestClient, record_id: str) -> None:
    # Found by the schema fuzz: an id past 64 bits reached the database and answered 500.
    appeal = client.post(f"/v1/strikes/{record_id}/appeal", json={"reason": "bukan saya"}, headers=ACCOUNT)
    assert appeal.status_code == 422, appeal.text
    decision = client.post(f"/v1/appeals/{record_id}/decision", json={"outcome": "uphold"}, headers=MODERATOR)
    assert decision.status_code == 422, decision.text


# --- Issue #11: identity, hardening, reports -------------------------------------------------------


def _strike(client: TestClient, content: str = "m1", account: str = "acct-42") -> int:
    body = violation(content, account_id=account)
    return client.post("/v1/violations", json=body, headers=MODERATOR).json()["strike_id"]


def test_only_the_account_itself_can_appeal_or_read(client: TestClient) -> None:
    # Item 3: an anonymous "spam" appeal used to use up the owner's only appeal.
    strike = _strike(client)
    anonymous = client.post(f"/v1/strikes/{strike}/appeal", json={"reason": "spam"})
    assert anonymous.status_code == 401
    forged = {
        "Authorization": "Bearer "
        + sign_account_token("not-the-secret-0123456789abcdef0123", "acct-42", T0 + timedelta(days=99))
    }
    assert (
        client.post(f"/v1/strikes/{strike}/appeal", json={"reason": "spam"}, headers=forged).status_code
        == 401
    )
    expired = as_account("acct-42", expires=T0)
    assert (
        client.post(f"/v1/strikes/{strike}/appeal", json={"reason": "x"}, headers=expired).status_code == 401
    )
    other = as_account("attacker")
    stolen = client.post(f"/v1/strikes/{strike}/appeal", json={"reason": "spam"}, headers=other)
    assert (stolen.status_code, stolen.json()["detail"]) == (404, f"strike {strike} not found")
    assert (
        client.post(f"/v1/strikes/{strike}/appeal", json={"reason": "mine"}, headers=ACCOUNT).status_code
        == 201
    )
    assert client.get("/v1/accounts/acct-42", headers=other).status_code == 403
    assert client.get("/v1/accounts/acct-42/notifications", headers=other).status_code == 403


def test_moderators_are_named_by_their_key_and_classifier_keys_cannot_decide(client: TestClient) -> None:
    strike = _strike(client)
    appeal = client.post(f"/v1/strikes/{strike}/appeal", json={"reason": "x"}, headers=ACCOUNT).json()["id"]
    spoofed = client.post(
        f"/v1/appeals/{appeal}/decision", json={"outcome": "overturn", "moderator": "boss"}, headers=MODERATOR
    )
    assert spoofed.status_code == 422  # the moderator comes from the credential, not the body
    by_classifier = client.post(
        f"/v1/appeals/{appeal}/decision", json={"outcome": "overturn"}, headers={"X-API-Key": CLASSIFIER_KEY}
    )
    assert by_classifier.status_code == 403
    assert "classifier key cannot call moderator endpoints" in by_classifier.json()["detail"]


def test_history_is_paginated(client: TestClient, clock: Clock) -> None:
    for i in range(5):
        client.post("/v1/violations", json=violation(f"p{i}", "pity_bait", hours=i), headers=MODERATOR)
    first = client.get("/v1/accounts/acct-42", params={"limit": 2}, headers=ACCOUNT).json()
    assert (len(first["history"]), first["history_total"]) == (2, 5)
    second = client.get(
        "/v1/accounts/acct-42",
        params={"limit": 2, "history_after": first["next_history_after"]},
        headers=ACCOUNT,
    ).json()
    assert [s["id"] for s in second["history"]] == [
        first["history"][-1]["id"] + 1,
        first["history"][-1]["id"] + 2,
    ]


BAD_TEXT = "a\u0000b"
V = "/v1/violations"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        pytest.param("post", V, violation("m1", account_id=BAD_TEXT), "account_id", id="account"),
        pytest.param("post", V, violation(BAD_TEXT), "content_id", id="content"),
        pytest.param("post", V, violation("m1", evidence={BAD_TEXT: 0.5}), "evidence", id="ev-key"),
        pytest.param("post", "/v1/strikes/1/appeal", {"reason": BAD_TEXT}, "reason", id="reason"),
        pytest.param(
            "post", "/v1/appeals/1/decision", {"outcome": "uphold", "note": BAD_TEXT}, "note", id="note"
        ),
        pytest.param(
            "post", "/v1/accounts/a/penalties/1/action", {"action": "reverse_penalty", "reason": BAD_TEXT},
            "reason", id="action-reason",
        ),
        pytest.param(
            "post", "/v1/reports", {"target_account_id": BAD_TEXT, "policy": "bullying", "feature": "live"},
            "target_account_id", id="report-target",
        ),
        pytest.param(
            "post", "/v1/reports",
            {"target_account_id": "b", "policy": "bullying", "feature": "live", "details": BAD_TEXT},
            "details", id="report-details",
        ),
        pytest.param(
            "post", "/v1/reports",
            {"target_account_id": "b", "policy": "bullying", "feature": "live", "content_id": BAD_TEXT},
            "content_id", id="report-content",
        ),
        pytest.param(
            "post", "/v1/reports/1/resolution", {"outcome": "dismissed", "note": BAD_TEXT}, "note", id="res"
        ),
        pytest.param("get", "/v1/moderation/accounts/a%00b", None, "account_id", id="path"),
        pytest.param(
            "post", V, violation("m1", occurred_at="0001-01-01T00:00:00+14:00"), "occurred_at", id="overflow"
        ),
        pytest.param(
            "get", "/v1/moderation/accounts/a?as_of=0001-01-01T00:00:00%2B14:00", None, "as_of", id="as-of"
        ),
    ],
)  # fmt: skip
def test_unstorable_input_is_422_naming_the_field(
    any_client: TestClient, method: str, path: str, body: dict | None, field: str
) -> None:
    # Item 9: NUL bytes reached PostgreSQL (500); year 1 at +14:00 overflowed on both backends.
    response = any_client.request(method.upper(), path, json=body, headers={**MODERATOR, **ACCOUNT})
    assert response.status_code == 422, response.text
    assert field in response.text


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_evidence_is_422(any_client: TestClient, number: str) -> None:
    raw = json.dumps(violation("m1")).replace("0.97", number)
    response = any_client.post(
        "/v1/violations", content=raw, headers={**MODERATOR, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "finite" in response.text


def test_too_old_violations_are_422(client: TestClient, clock: Clock) -> None:
    old = violation("m1", occurred_at=(clock.now - timedelta(days=366)).isoformat())
    response = client.post("/v1/violations", json=old, headers=MODERATOR)
    assert response.status_code == 422
    assert "more than 365 days ago" in response.text


def test_database_errors_do_not_log_parameters(any_client: TestClient) -> None:
    # Item 9: SQLAlchemy's "[parameters: ...]" copied appeal reasons (names, phone numbers) into logs.
    from sqlalchemy.exc import IntegrityError

    from strikes.storage import AppealRow

    store = any_client.app.state.strike_service.store
    with pytest.raises(IntegrityError) as caught, store.engine.begin() as conn:
        conn.execute(
            AppealRow.__table__.insert().values(
                account_id="nobody", seq=1, violation_id=999, filed_at=T0, reason="call me at +62 812 555"
            )
        )
    assert "+62 812 555" not in str(caught.value)


def test_reports_from_filing_to_outcome(any_client: TestClient) -> None:
    # Item 10: accounts report content; moderators resolve; the reporter sees the outcome.
    reporter = as_account("reporter-1")
    body = {"target_account_id": "acct-42", "content_id": "c9", "policy": "bullying", "feature": "comment"}
    filed = any_client.post("/v1/reports", json={**body, "details": "hinaan"}, headers=reporter)
    assert filed.status_code == 201, filed.text
    assert any_client.post("/v1/reports", json=body).status_code == 401
    (queued,) = any_client.get("/v1/moderation/reports", headers=MODERATOR).json()
    assert queued["reporter_id"] == "reporter-1"
    resolved = any_client.post(
        f"/v1/reports/{queued['id']}/resolution", json={"outcome": "actioned"}, headers=MODERATOR
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["enforcement"]["decision"] == "warning"
    mine = any_client.get("/v1/reports", headers=reporter).json()
    assert [(r["id"], r["status"]) for r in mine] == [(queued["id"], "actioned")]
    status = any_client.get("/v1/accounts/reporter-1", headers=reporter).json()
    assert [r["status"] for r in status["reports"]] == ["actioned"]
    notes = any_client.get("/v1/accounts/reporter-1/notifications", headers=reporter).json()["items"]
    assert [n["kind"] for n in notes] == ["report_resolved"]
    again = any_client.post(
        f"/v1/reports/{queued['id']}/resolution", json={"outcome": "dismissed"}, headers=MODERATOR
    )
    assert again.status_code == 409
