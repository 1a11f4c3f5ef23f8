"""A Python client of the Tegur service: ``TegurClient`` (httpx, typed responses, retries, batching).

::

    from tegur.client import TegurClient

    with TegurClient("http://127.0.0.1:8000", api_key="...") as tegur:
        result = tegur.classify(["dasar jelek lu", "makasih kak"])
        for item in result.results:
            print(item.id, item.action, item.labels)

* Responses are the service's own pydantic models (:mod:`inference.schemas`, :mod:`strikes.schemas`).
* ``503`` (model loading, queue full) and ``429`` are retried with exponential backoff (honouring
  ``Retry-After``), as are connection failures; other errors raise :class:`TegurApiError` with the
  service's error code, message, field and request id.
* ``classify`` and ``moderate`` split a long list into requests within the server's limits (items per
  request, body bytes) and return one merged response, results in input order.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from inference.moderation import ModerateResponse
from inference.schemas import ClassifyResponse, HealthResponse
from inference.settings import ServeSettings
from strikes.schemas import (
    AccountStatusOut,
    ActionOut,
    AppealDecisionOut,
    AppealOut,
    DecisionOut,
    ModeratorAccountStatusOut,
    ModeratorReportOut,
    NotificationsPage,
    ReportOut,
    ResolutionOut,
    ReviewOut,
)
from tegur import __version__
from tegur.errors import TegurError

Model = TypeVar("Model", bound=BaseModel)
#: A message to score: its text (the id is then its position), or a mapping of the request's item fields.
Item = str | Mapping[str, Any]

_DEFAULTS = ServeSettings.model_fields
#: The server's default limits (``TEGUR_MAX_BATCH_ITEMS``, ``TEGUR_MAX_BODY_BYTES``).
DEFAULT_MAX_BATCH_ITEMS: int = _DEFAULTS["max_batch_items"].default
DEFAULT_MAX_BODY_BYTES: int = _DEFAULTS["max_body_bytes"].default
RETRY_STATUSES = frozenset({429, 503})


class TegurApiError(TegurError):
    """The service answered with an error (after any retries)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        request_id: str = "",
    ) -> None:
        where = f" (request id {request_id})" if request_id else ""
        super().__init__(f"{status_code} {code}: {message}{where}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id


class TegurClient:
    """Client of one Tegur service.

    Args:
        base_url: Where the service listens, e.g. ``http://127.0.0.1:8000``.
        api_key: A moderator or classifier key (``X-API-Key``), for moderator routes and ``moderate``.
        account_token: An account token (``Authorization: Bearer``), for the account routes.
        timeout: Seconds per HTTP request.
        max_retries: Retries of a request answered 503 or 429 (or failing to connect); 0: none.
        backoff_s: First wait between retries; it doubles each time (with jitter), capped at
            ``max_backoff_s``. A ``Retry-After`` header, when longer, is honoured.
        max_batch_items: Most items per classify/moderate request (the server's ``TEGUR_MAX_BATCH_ITEMS``).
        max_body_bytes: Largest request body (the server's ``TEGUR_MAX_BODY_BYTES``).
        http_client: An ``httpx.Client`` to send through (its base URL is used); the client does not
            close one it was given.
        sleep: Called to wait between retries (tests pass a recorder).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        account_token: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_batch_items: int = DEFAULT_MAX_BATCH_ITEMS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_batch_items < 1 or max_body_bytes < 1024:
            raise ValueError("max_batch_items must be >= 1 and max_body_bytes >= 1024")
        if max_retries < 0 or backoff_s < 0:
            raise ValueError("max_retries and backoff_s must not be negative")
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = {"User-Agent": f"tegur-client/{__version__}"}
        if api_key:
            self._headers["X-API-Key"] = api_key
        if account_token:
            self._headers["Authorization"] = f"Bearer {account_token}"
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_batch_items = max_batch_items
        self.max_body_bytes = max_body_bytes
        self._sleep = sleep

    # -- lifecycle ------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- classify and moderate ------------------------------------------------------------------------

    def classify(
        self, items: Sequence[Item], *, thresholds: Mapping[str, float] | None = None
    ) -> ClassifyResponse:
        """``POST /v1/classify`` for every item, in as many requests as the server's limits need.

        Returns one response: the first request's id, model and thresholds, and every item's result in
        input order.
        """
        return self._batched("/v1/classify", items, thresholds, ClassifyResponse)

    def moderate(
        self, items: Sequence[Item], *, thresholds: Mapping[str, float] | None = None
    ) -> ModerateResponse:
        """``POST /v1/moderate`` (classifier key): classify, then strike the ``remove`` decisions.

        Every item needs an ``author_id``. Each request's enforcement is one transaction; re-sending an
        item strikes nothing twice, so a retried or repeated batch is safe.
        """
        return self._batched("/v1/moderate", items, thresholds, ModerateResponse)

    # -- strike engine: moderator routes (X-API-Key) --------------------------------------------------

    def record_violation(
        self,
        account_id: str,
        *,
        policy: str,
        feature: str,
        content_id: str,
        occurred_at: datetime | None = None,
        evidence: Mapping[str, float] | None = None,
    ) -> DecisionOut:
        """``POST /v1/violations``: a moderator's violation decision, enforced by the strike policy."""
        body = {
            "account_id": account_id,
            "policy": policy,
            "feature": feature,
            "content_id": content_id,
            "occurred_at": occurred_at.isoformat() if occurred_at else None,
            "evidence": dict(evidence or {}),
        }
        return self._call("POST", "/v1/violations", DecisionOut, json=body)

    def moderator_account(self, account_id: str, **query: Any) -> ModeratorAccountStatusOut:
        """``GET /v1/moderation/accounts/{id}`` (``as_of``, ``known_at``, ``history_after``, ``limit``)."""
        path = f"/v1/moderation/accounts/{_segment(account_id)}"
        return self._call("GET", path, ModeratorAccountStatusOut, params=_query(query))

    def decide_appeal(self, appeal_id: int, outcome: str, *, note: str | None = None) -> AppealDecisionOut:
        """``POST /v1/appeals/{id}/decision``: ``uphold`` or ``overturn``."""
        body = {"outcome": outcome, "note": note}
        return self._call("POST", f"/v1/appeals/{int(appeal_id)}/decision", AppealDecisionOut, json=body)

    def act_on_penalty(
        self, account_id: str, penalty_no: int, action: str, *, reason: str | None = None
    ) -> ActionOut:
        """``POST /v1/accounts/{id}/penalties/{n}/action``: reverse_penalty, confirm_ban or reject_ban."""
        path = f"/v1/accounts/{_segment(account_id)}/penalties/{int(penalty_no)}/action"
        return self._call("POST", path, ActionOut, json={"action": action, "reason": reason})

    def reviews(self, *, limit: int = 100) -> list[ReviewOut]:
        """``GET /v1/reviews``: automated bans waiting for a moderator."""
        return self._call("GET", "/v1/reviews", list[ReviewOut], params={"limit": limit})

    def open_reports(self, *, limit: int = 100) -> list[ModeratorReportOut]:
        """``GET /v1/moderation/reports``: open reports, oldest first."""
        return self._call("GET", "/v1/moderation/reports", list[ModeratorReportOut], params={"limit": limit})

    def resolve_report(self, report_id: int, outcome: str, *, note: str | None = None) -> ResolutionOut:
        """``POST /v1/reports/{id}/resolution``: ``actioned`` or ``dismissed``."""
        body = {"outcome": outcome, "note": note}
        return self._call("POST", f"/v1/reports/{int(report_id)}/resolution", ResolutionOut, json=body)

    # -- strike engine: account routes (account token; status and notifications also a moderator key)

    def account(self, account_id: str, **query: Any) -> AccountStatusOut:
        """``GET /v1/accounts/{id}``: strikes, restrictions, ban state, history and reports."""
        path = f"/v1/accounts/{_segment(account_id)}"
        return self._call("GET", path, AccountStatusOut, params=_query(query))

    def notifications(self, account_id: str, *, after: int = 0, limit: int = 50) -> NotificationsPage:
        """``GET /v1/accounts/{id}/notifications``: one page, oldest first (next page: ``next_after``)."""
        path = f"/v1/accounts/{_segment(account_id)}/notifications"
        return self._call("GET", path, NotificationsPage, params={"after": after, "limit": limit})

    def appeal(self, strike_id: int, reason: str) -> AppealOut:
        """``POST /v1/strikes/{id}/appeal``: appeal one of the account's strikes."""
        return self._call("POST", f"/v1/strikes/{int(strike_id)}/appeal", AppealOut, json={"reason": reason})

    def report(
        self,
        target_account_id: str,
        *,
        policy: str,
        feature: str,
        content_id: str | None = None,
        details: str | None = None,
    ) -> ReportOut:
        """``POST /v1/reports``: report another account or its content."""
        body = {
            "target_account_id": target_account_id,
            "policy": policy,
            "feature": feature,
            "content_id": content_id,
            "details": details,
        }
        return self._call("POST", "/v1/reports", ReportOut, json=body)

    def my_reports(self) -> list[ReportOut]:
        """``GET /v1/reports``: the reports this account made."""
        return self._call("GET", "/v1/reports", list[ReportOut])

    # -- operations -----------------------------------------------------------------------------------

    def health(self) -> HealthResponse:
        """``GET /healthz``."""
        return self._call("GET", "/healthz", HealthResponse)

    def metrics(self) -> str:
        """``GET /metrics``: the Prometheus exposition text."""
        return self._send("GET", "/metrics").text

    def ready(self) -> bool:
        """``GET /readyz``: whether the model is loaded (no retries; False when nothing answers)."""
        try:
            return self._http.get("/readyz", headers=self._headers).status_code == 200
        except httpx.TransportError:
            return False

    # -- plumbing -------------------------------------------------------------------------------------

    def _batched(
        self,
        path: str,
        items: Sequence[Item],
        thresholds: Mapping[str, float] | None,
        model: type[Model],
    ) -> Model:
        if isinstance(items, str | bytes):
            raise TypeError("items must be a list of texts or item mappings, not one string")
        payload_items = [_item(item, index) for index, item in enumerate(items)]
        if not payload_items:
            raise ValueError("items is empty: pass at least one text")
        extra = {"thresholds": dict(thresholds)} if thresholds else {}
        merged: dict[str, Any] | None = None
        for chunk in self._chunks(payload_items, extra):
            response = self._send("POST", path, json={"items": chunk, **extra})
            body = response.json()
            if merged is None:
                merged = body
            else:
                merged["results"].extend(body["results"])
        assert merged is not None  # payload_items is not empty
        return model.model_validate(merged)

    def _chunks(
        self, items: list[dict[str, Any]], extra: Mapping[str, Any]
    ) -> Iterator[list[dict[str, Any]]]:
        # Bytes as the server counts them: the JSON body, with room for the envelope.
        budget = self.max_body_bytes - len(_encode({"items": [], **extra}))
        chunk: list[dict[str, Any]] = []
        size = 0
        for item in items:
            item_bytes = len(_encode(item)) + 1  # and its comma
            if item_bytes > budget:
                raise ValueError(
                    f"item {item.get('id')!r} alone is {item_bytes} bytes, over the request limit of "
                    f"{self.max_body_bytes}; shorten its text"
                )
            if chunk and (len(chunk) >= self.max_batch_items or size + item_bytes > budget):
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += item_bytes
        if chunk:
            yield chunk

    def _call(self, method: str, path: str, model: Any, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        return TypeAdapter(model).validate_json(response.content)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "json" in kwargs:  # sent as the server measures it (UTF-8, no ASCII escapes)
            kwargs["content"] = _encode(kwargs.pop("json"))
            headers = {**self._headers, "Content-Type": "application/json"}
        else:
            headers = self._headers
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise TegurError(f"{method} {path}: cannot reach the service ({exc})") from exc
                self._sleep(self._backoff(attempt, None))
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                self._sleep(self._backoff(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            if response.is_success:
                return response
            raise _api_error(response)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        wait = min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
        try:
            asked = float(retry_after) if retry_after is not None else 0.0
        except ValueError:  # an HTTP date: not sent by Tegur; fall back to our own backoff
            asked = 0.0
        return max(wait, min(asked, self.max_backoff_s))


def _item(item: Item, index: int) -> dict[str, Any]:
    if isinstance(item, str):
        return {"id": str(index), "text": item}
    if isinstance(item, Mapping):
        out = dict(item)
        out.setdefault("id", str(index))
        if isinstance(out.get("occurred_at"), datetime):
            out["occurred_at"] = out["occurred_at"].isoformat()
        return out
    raise TypeError(f"items[{index}] must be a text or a mapping, got {type(item).__name__}")


def _encode(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _query(query: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in query.items() if v is not None}


def _api_error(response: httpx.Response) -> TegurApiError:
    try:
        body = response.json()
        error = body["error"]
        return TegurApiError(
            response.status_code,
            str(error.get("code", "http_error")),
            str(error.get("message", "")),
            field=error.get("field"),
            request_id=str(body.get("request_id", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text[:200].strip() or response.reason_phrase
        return TegurApiError(response.status_code, "http_error", text)
