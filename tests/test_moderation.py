"""``POST /v1/moderate`` (inference/moderation.py): from classification to ban to appeal to reinstatement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from inference.api import create_app
from strikes.settings import get_strike_settings, load_strike_settings
from tests.test_api import FakeModel, small_settings

KEY = "moderator-key-0123456789"
MODERATOR = {"X-API-Key": KEY}
POSTED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(tmp_path, repo_root):
    app = create_app(small_settings(), model_loader=lambda _settings: FakeModel())
    settings = load_strike_settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        moderator_api_keys=KEY,
        policy_path=repo_root / "configs" / "strikes.yaml",
    )
    app.dependency_overrides[get_strike_settings] = lambda: settings
    with TestClient(app) as test_client:
        yield test_client


def _item(n: int, text: str = "wa aktif 24 jam", author: str | None = "akun-1") -> dict:
    item = {"id": f"msg-{n}", "text": text, "surface": "live_chat", "author_id": author}
    item["occurred_at"] = (POSTED + timedelta(minutes=n)).isoformat()
    return item


def test_classify_to_ban_to_appeal_to_reinstatement(client: TestClient) -> None:
    # FakeModel scores "wa aktif" 0.97 for off_platform_redirection: above the remove band (0.9).
    # The policy: first violation a warning, redirection bans at 6 active strikes.
    batch = [_item(n) for n in range(7)] + [_item(99, "halo kak salam kenal", author="akun-2")]
    response = client.post("/v1/moderate", json={"items": batch}, headers=MODERATOR)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["action"] for r in results] == ["remove"] * 7 + ["allow"]
    kinds = [r["enforcement"]["decision"] if r["enforcement"] else None for r in results]
    assert kinds[0] == "warning"
    assert kinds[-2] == "permanent_ban"
    assert kinds[-1] is None
    assert results[-2]["enforcement"]["rule"]["rule"] == "policy_threshold"
    ban_strike = results[-2]["enforcement"]["strike_id"]

    status = client.get("/v1/accounts/akun-1").json()
    assert status["banned"] is True
    assert status["active_by_policy"] == {"off_platform_redirection": 6}
    assert status["active_by_feature"] == {"live": 6}
    assert client.get("/v1/accounts/akun-2").json()["history"] == []

    # Re-sending the same messages strikes nothing twice.
    again = client.post("/v1/moderate", json={"items": batch}, headers=MODERATOR).json()
    assert {r["enforcement"]["decision"] for r in again["results"][:7]} == {"duplicate"}
    assert client.get("/v1/accounts/akun-1").json()["active_by_policy"] == {"off_platform_redirection": 6}

    appeal = client.post(f"/v1/strikes/{ban_strike}/appeal", json={"reason": "itu bukan saya"})
    assert appeal.status_code == 201, appeal.text
    decided = client.post(
        f"/v1/appeals/{appeal.json()['id']}/decision",
        json={"outcome": "overturn", "moderator": "mod-1"},
        headers=MODERATOR,
    )
    assert decided.status_code == 200, decided.text
    assert [p["kind"] for p in decided.json()["lifted_penalties"]] == ["permanent_ban"]

    reinstated = client.get("/v1/accounts/akun-1").json()
    assert reinstated["banned"] is False
    assert reinstated["active_by_policy"] == {"off_platform_redirection": 5}


def test_review_and_allow_do_not_strike(client: TestClient) -> None:
    # "jelek" is flagged for bullying at 0.6: review, below the remove band.
    out = client.post(
        "/v1/moderate", json={"items": [_item(1, "kamu jelek"), _item(2, "halo")]}, headers=MODERATOR
    ).json()
    assert [r["action"] for r in out["results"]] == ["review", "allow"]
    assert [r["enforcement"] for r in out["results"]] == [None, None]
    assert client.get("/v1/accounts/akun-1").json()["history"] == []


def test_moderate_needs_the_author(client: TestClient) -> None:
    response = client.post(
        "/v1/moderate", json={"items": [_item(1), _item(2, author=None)]}, headers=MODERATOR
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "items[1].author_id"
    assert client.get("/v1/accounts/akun-1").json()["history"] == []


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-API-Key": "x" * 20}, 403)])
def test_moderate_needs_a_moderator_key(client: TestClient, headers: dict, status: int) -> None:
    response = client.post("/v1/moderate", json={"items": [_item(1)]}, headers=headers)
    assert response.status_code == status
    assert client.get("/v1/accounts/akun-1").json()["history"] == []
