"""``POST /v1/moderate`` (inference/moderation.py): from classification to ban to appeal to reinstatement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from inference.api import create_app
from strikes.identity import sign_account_token
from strikes.settings import get_strike_settings, load_strike_settings
from tests.test_api import FakeModel, small_settings

KEY = "moderator-key-0123456789"
CLASSIFIER_KEY = "classifier-key-0123456789"
SECRET = "platform-shared-secret-0123456789abcdef"
MODERATOR = {"X-API-Key": KEY}
CLASSIFIER = {"X-API-Key": CLASSIFIER_KEY}
POSTED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def as_account(account: str) -> dict:
    token = sign_account_token(SECRET, account, datetime.now(UTC) + timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def moderation_app(tmp_path, repo_root):
    """The app with FakeModel scores and a real SQLite strike ledger under ``tmp_path``."""
    app = create_app(small_settings(), model_loader=lambda _settings: FakeModel())
    settings = load_strike_settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        moderator_api_keys=f"mod-1={KEY}",
        classifier_api_keys=f"pipeline={CLASSIFIER_KEY}",
        account_token_secret=SECRET,
        policy_path=repo_root / "configs" / "strikes.yaml",
    )
    app.dependency_overrides[get_strike_settings] = lambda: settings
    return app


@pytest.fixture
def client(tmp_path, repo_root):
    with TestClient(moderation_app(tmp_path, repo_root)) as test_client:
        yield test_client


def _item(n: int, text: str = "wa aktif 24 jam", author: str | None = "akun-1") -> dict:
    item = {"id": f"msg-{n}", "text": text, "surface": "live_chat", "author_id": author}
    item["occurred_at"] = (POSTED + timedelta(minutes=n)).isoformat()
    return item


def _history(client: TestClient, account: str = "akun-1") -> list:
    return client.get(f"/v1/accounts/{account}", headers=as_account(account)).json()["history"]


def test_classify_to_held_ban_to_review_to_appeal_to_reinstatement(client: TestClient) -> None:
    # FakeModel scores "wa aktif" 0.97 for off_platform_redirection: above the remove band (0.9).
    # The policy: first violation a warning, redirection bans at 6 active strikes; a ban only the
    # classifier triggered waits for a moderator (automated_bans: hold_for_review).
    batch = [_item(n) for n in range(7)] + [_item(99, "halo kak salam kenal", author="akun-2")]
    response = client.post("/v1/moderate", json={"items": batch}, headers=CLASSIFIER)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["action"] for r in results] == ["remove"] * 7 + ["allow"]
    kinds = [r["enforcement"]["decision"] if r["enforcement"] else None for r in results]
    assert kinds[0] == "warning"
    assert kinds[-2] == "ban_held_for_review"
    assert kinds[-1] is None
    held = results[-2]["enforcement"]
    assert held["rule"]["rule"] == "policy_threshold"
    assert held["new_penalties"][0]["automated"] is True
    assert "automated means" in held["notifications"][-1]["message"]
    ban_strike = held["strike_id"]

    status = client.get("/v1/accounts/akun-1", headers=as_account("akun-1")).json()
    assert status["banned"] is False and status["review_hold"] is not None
    assert status["active_by_policy"] == {"off_platform_redirection": 6}
    assert _history(client, "akun-2") == []

    # Re-sending the same messages strikes nothing twice, and returns the stored notifications.
    again = client.post("/v1/moderate", json={"items": batch}, headers=CLASSIFIER).json()
    assert {r["enforcement"]["decision"] for r in again["results"][:7]} == {"duplicate"}
    for first, retry in zip(results[:7], again["results"][:7], strict=True):
        assert retry["enforcement"]["notifications"] == first["enforcement"]["notifications"]

    # A moderator confirms the automated ban from the review queue.
    (review,) = client.get("/v1/reviews", headers=MODERATOR).json()
    assert review["account_id"] == "akun-1"
    confirmed = client.post(
        f"/v1/accounts/akun-1/penalties/{review['hold']['no']}/action",
        json={"action": "confirm_ban", "reason": "clear spam campaign"},
        headers=MODERATOR,
    )
    assert confirmed.status_code == 200, confirmed.text
    (ban,) = confirmed.json()["new_penalties"]
    assert (ban["kind"], ban["automated"], ban["reviewed_by_moderator"]) == ("permanent_ban", False, True)
    assert client.get("/v1/reviews", headers=MODERATOR).json() == []

    appeal = client.post(
        f"/v1/strikes/{ban_strike}/appeal", json={"reason": "itu bukan saya"}, headers=as_account("akun-1")
    )
    assert appeal.status_code == 201, appeal.text
    decided = client.post(
        f"/v1/appeals/{appeal.json()['id']}/decision", json={"outcome": "overturn"}, headers=MODERATOR
    )
    assert decided.status_code == 200, decided.text
    assert [p["kind"] for p in decided.json()["lifted_penalties"]] == ["permanent_ban"]

    reinstated = client.get("/v1/accounts/akun-1", headers=as_account("akun-1")).json()
    assert reinstated["banned"] is False
    assert reinstated["active_by_policy"] == {"off_platform_redirection": 5}


def test_review_and_allow_do_not_strike(client: TestClient) -> None:
    # "jelek" is flagged for bullying at 0.6: review, below the remove band.
    out = client.post(
        "/v1/moderate", json={"items": [_item(1, "kamu jelek"), _item(2, "halo")]}, headers=CLASSIFIER
    ).json()
    assert [r["action"] for r in out["results"]] == ["review", "allow"]
    assert [r["enforcement"] for r in out["results"]] == [None, None]
    assert _history(client) == []


def test_moderate_needs_the_author(client: TestClient) -> None:
    response = client.post(
        "/v1/moderate", json={"items": [_item(1), _item(2, author=None)]}, headers=CLASSIFIER
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "items[1].author_id"
    assert _history(client) == []


def test_an_invalid_item_writes_nothing_and_a_retry_loses_no_notice(client: TestClient) -> None:
    # Issue #11, item 5: item 0's warning used to be committed before item 1 failed; the retry then
    # answered "duplicate" with no notifications, and the warning notice was lost.
    too_old = {**_item(1), "occurred_at": (POSTED - timedelta(days=400)).isoformat()}
    failed = client.post("/v1/moderate", json={"items": [_item(0), too_old]}, headers=CLASSIFIER)
    assert failed.status_code == 422, failed.text
    assert "365 days" in failed.text
    assert _history(client) == []
    first = client.post("/v1/moderate", json={"items": [_item(0)]}, headers=CLASSIFIER).json()
    # The response was lost (a crash after the commit): the retry gets the same decision and notices.
    retry = client.post("/v1/moderate", json={"items": [_item(0)]}, headers=CLASSIFIER).json()
    assert first["results"][0]["enforcement"]["decision"] == "warning"
    assert retry["results"][0]["enforcement"]["original_decision"] == "warning"
    assert (
        retry["results"][0]["enforcement"]["notifications"]
        == first["results"][0]["enforcement"]["notifications"]
    )
    stored = client.get("/v1/accounts/akun-1/notifications", headers=as_account("akun-1")).json()["items"]
    assert [n["kind"] for n in stored] == ["warning_issued"]


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-API-Key": "x" * 20}, 403), (MODERATOR, 403)])
def test_moderate_needs_a_classifier_key(client: TestClient, headers: dict, status: int) -> None:
    response = client.post("/v1/moderate", json={"items": [_item(1)]}, headers=headers)
    assert response.status_code == status
    assert _history(client) == []
