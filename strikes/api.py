"""HTTP routes of the strike engine: an ``APIRouter`` the serving app includes.

Routes only translate: requests become domain calls on :class:`~strikes.service.StrikeService`, domain
errors become status codes (404 unknown strike, appeal, penalty or report; 409 a second appeal or
decision, or an appeal after the window; 422 an invalid event; 503 database trouble).

Who may call what (see :mod:`strikes.identity`):

* account routes (status, notifications, appeals, reports) need ``Authorization: Bearer <token>``, an
  account token the platform signed with ``TEGUR_ACCOUNT_TOKEN_SECRET``; an account reads and
  appeals only its own records. A moderator key (``X-API-Key``) may read any account, with notes;
* moderator routes need a human moderator's key (``TEGUR_MODERATOR_API_KEYS``); the key's name is
  recorded as the moderator. Classifier keys (``TEGUR_CLASSIFIER_API_KEYS``) serve ``/v1/moderate``.

Wiring into an app::

    app = FastAPI(lifespan=strike_lifespan)   # or enter strike_lifespan(app) in your own lifespan
    app.include_router(strikes.api.router)
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from strikes.domain import MAX_ACCOUNT_ID, EventSource, ViolationEvent
from strikes.errors import ConflictError, InvalidEventError, NotFoundError, StorageError
from strikes.identity import TokenError, match_key, verify_account_token
from strikes.schemas import (
    DEFAULT_PAGE,
    MAX_PAGE,
    AccountStatusOut,
    ActionOut,
    AppealDecisionIn,
    AppealDecisionOut,
    AppealIn,
    AppealOut,
    DecisionOut,
    Instant,
    ModeratorAccountStatusOut,
    ModeratorReportOut,
    NotificationOut,
    NotificationsPage,
    PenaltyActionIn,
    PenaltyOut,
    ReportIn,
    ReportOut,
    ReportResolutionIn,
    ResolutionOut,
    ReviewOut,
    Text,
    ViolationIn,
)
from strikes.service import StrikeService
from strikes.settings import StrikeSettings, get_strike_settings


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


class _JsonSafeRoute(APIRoute):
    """Validation errors echo the offending input; NaN or Infinity there would break the 422 itself."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [{**e, "input": _json_safe(e.get("input"))} for e in exc.errors()]
                raise RequestValidationError(errors) from None

        return route


router = APIRouter(prefix="/v1", tags=["strikes"], route_class=_JsonSafeRoute)

_UNAVAILABLE = {503: {"description": "The strike database is unreachable, or the service is not started."}}
#: Documented answers of the moderator-key check (see :func:`require_moderator`).
MODERATOR_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "No API key in `X-API-Key`."},
    403: {"description": "A wrong key, a key of the wrong kind, or these endpoints are disabled."},
}
ACCOUNT_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid account token in `Authorization: Bearer` (nor a moderator key)."},
    403: {"description": "The token is for another account, or account routes are disabled."},
}
#: Strike and appeal ids are 64-bit database keys; larger ones are refused with 422, not sent to the database.
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A strike, appeal or report id.")]
AccountId = Annotated[Text, Path(min_length=1, max_length=MAX_ACCOUNT_ID, description="The account id.")]
_NOT_FOUND = {404: {"description": "No such strike, appeal, penalty or report."}}
_CONFLICT = {
    409: {"description": "Already appealed or decided, the appeal window has closed, or not a review hold."}
}
_INVALID = {422: {"description": "Invalid input; the message names the field."}}


@asynccontextmanager
async def strike_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the strike service at start-up as ``app.state.strike_service``; close it at shutdown."""
    # Honour an override of the settings dependency, so that tests and embedding apps can swap them.
    settings = app.dependency_overrides.get(get_strike_settings, get_strike_settings)()
    service = StrikeService.from_settings(settings)
    app.state.strike_service = service
    try:
        yield
    finally:
        service.close()


def get_strike_service(request: Request) -> StrikeService:
    """The app's strike service (tests override this dependency or set ``app.state.strike_service``)."""
    service = getattr(request.app.state, "strike_service", None)
    if service is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the strike service is not started: create the app with lifespan=strike_lifespan",
        )
    return service


Settings = Annotated[StrikeSettings, Depends(get_strike_settings)]
ApiKey = Annotated[str | None, Header(description="A moderator or classifier API key.")]


def _named_key(settings: StrikeSettings, given: str | None, which: str, variable: str) -> str:
    if not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"{which} endpoint: send a {which} API key in the X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    entries = settings.key_entries(which)
    if not entries:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{which} endpoints are disabled: set {variable}")
    name = match_key(given, entries)
    if name is None:
        other = "classifier" if which == "moderator" else "moderator"
        if match_key(given, settings.key_entries(other)) is not None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"a {other} key cannot call {which} endpoints; use a {which} key"
            )
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"invalid {which} API key")
    return name


def require_moderator(settings: Settings, x_api_key: ApiKey = None) -> str:
    """The human moderator named by the ``X-API-Key`` (one of ``TEGUR_MODERATOR_API_KEYS``)."""
    return _named_key(settings, x_api_key, "moderator", "TEGUR_MODERATOR_API_KEYS")


def require_classifier(settings: Settings, x_api_key: ApiKey = None) -> str:
    """The classifier service named by the ``X-API-Key`` (one of ``TEGUR_CLASSIFIER_API_KEYS``)."""
    return _named_key(settings, x_api_key, "classifier", "TEGUR_CLASSIFIER_API_KEYS")


@dataclass(frozen=True)
class Caller:
    """An authenticated account, or a moderator (who may read any account)."""

    account_id: str | None = None
    moderator: str | None = None

    def may_read(self, account_id: str) -> bool:
        return self.moderator is not None or self.account_id == account_id


def _account_from_token(settings: StrikeSettings, authorization: str | None, service: StrikeService) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "account endpoint: send the platform-signed account token as Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if settings.account_token_secret is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "account endpoints are disabled: set TEGUR_ACCOUNT_TOKEN_SECRET"
        )
    try:
        return verify_account_token(
            settings.account_token_secret.get_secret_value(),
            authorization.removeprefix("Bearer "),
            service.clock(),
        )
    except TokenError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from None


def require_account(
    settings: Settings,
    request: Request,
    authorization: Annotated[
        str | None, Header(description="Bearer <platform-signed account token>.")
    ] = None,
) -> str:
    """The account an account token vouches for."""
    return _account_from_token(settings, authorization, get_strike_service(request))


def account_or_moderator(
    settings: Settings,
    request: Request,
    authorization: Annotated[
        str | None, Header(description="Bearer <platform-signed account token>.")
    ] = None,
    x_api_key: ApiKey = None,
) -> Caller:
    """An account (by token) or a moderator (by key)."""
    if x_api_key and not authorization:
        return Caller(moderator=require_moderator(settings, x_api_key))
    return Caller(account_id=_account_from_token(settings, authorization, get_strike_service(request)))


Service = Annotated[StrikeService, Depends(get_strike_service)]
ModeratorName = Annotated[str, Depends(require_moderator)]
ClassifierName = Annotated[str, Depends(require_classifier)]
AccountCaller = Annotated[str, Depends(require_account)]
AnyCaller = Annotated[Caller, Depends(account_or_moderator)]
# Kept for routers that only need the check.
Moderator = Depends(require_moderator)
Classifier = Depends(require_classifier)


@contextmanager
def _domain_errors() -> Iterator[None]:
    try:
        yield
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except InvalidEventError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except StorageError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc


def _own(caller: Caller, account_id: str) -> None:
    if not caller.may_read(account_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an account token reads only its own account")


@router.post(
    "/violations",
    response_model=DecisionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record a moderator's violation decision and enforce the strike policy",
    responses={
        200: {"description": "Already recorded (same account, content id and policy): the stored decision."},
        **MODERATOR_RESPONSES,
        **_UNAVAILABLE,
    },
)
def post_violation(
    body: ViolationIn, service: Service, response: Response, moderator: ModeratorName
) -> DecisionOut:
    with _domain_errors():
        event = ViolationEvent(
            account_id=body.account_id,
            policy=body.policy,
            feature=body.feature,
            content_id=body.content_id,
            occurred_at=body.occurred_at,
            source=EventSource.MODERATOR,
            evidence=body.evidence,
            actor=moderator,
        )
        decision = service.record_violation(event)
    if decision.duplicate:
        response.status_code = status.HTTP_200_OK
    return DecisionOut.of(decision)


def _status(
    service: StrikeService,
    account_id: str,
    as_of: datetime | None,
    known_at: datetime | None,
    history_after: int | None,
    limit: int,
    *,
    internal: bool,
) -> AccountStatusOut:
    with _domain_errors():
        state = service.account_status(account_id, as_of, known_at=known_at)
        reports = service.reports_by(account_id)
    return AccountStatusOut.of(
        state, internal=internal, history_after=history_after, limit=limit, reports=reports
    )


AsOf = Annotated[Instant | None, Query(description="What was true at this instant (with a timezone).")]
KnownAt = Annotated[
    Instant | None, Query(description="Only what had been recorded by this instant (default: everything).")
]
HistoryAfter = Annotated[
    int | None, Query(ge=0, le=2**63 - 1, description="History page: records after this strike id.")
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="History records per page.")]


@router.get(
    "/accounts/{account_id}",
    response_model=AccountStatusOut,
    responses={**ACCOUNT_RESPONSES, **_UNAVAILABLE},
    summary="Your strikes, restrictions, ban state, distances to thresholds, history and reports",
)
def get_account(
    account_id: AccountId,
    service: Service,
    account: AccountCaller,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    history_after: HistoryAfter = None,
    limit: Limit = DEFAULT_PAGE,
) -> AccountStatusOut:
    _own(Caller(account_id=account), account_id)
    return _status(service, account_id, as_of, known_at, history_after, limit, internal=False)


@router.get(
    "/moderation/accounts/{account_id}",
    response_model=ModeratorAccountStatusOut,
    responses={**MODERATOR_RESPONSES, **_UNAVAILABLE},
    summary="Any account's status for moderators, with appeal decisions' internal notes",
)
def get_account_for_moderator(
    account_id: AccountId,
    service: Service,
    moderator: ModeratorName,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    history_after: HistoryAfter = None,
    limit: Limit = DEFAULT_PAGE,
) -> AccountStatusOut:
    return _status(service, account_id, as_of, known_at, history_after, limit, internal=True)


@router.get(
    "/accounts/{account_id}/notifications",
    response_model=NotificationsPage,
    responses={**ACCOUNT_RESPONSES, **_UNAVAILABLE},
    summary="The account's notifications (the outbox), oldest first, from a cursor",
)
def get_notifications(
    account_id: AccountId,
    service: Service,
    caller: AnyCaller,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Notifications after this id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> NotificationsPage:
    _own(caller, account_id)
    with _domain_errors():
        page = service.notifications(account_id, after=after, limit=limit)
    items = [NotificationOut.of(note, note_id) for note_id, note in page]
    return NotificationsPage(items=items, next_after=page[-1][0] if len(page) == limit else None)


@router.post(
    "/strikes/{strike_id}/appeal",
    response_model=AppealOut,
    status_code=status.HTTP_201_CREATED,
    responses={**ACCOUNT_RESPONSES, **_NOT_FOUND, **_CONFLICT, **_UNAVAILABLE},
    summary="Appeal one of your strikes (once per strike, within the appeal window)",
)
def appeal_strike(strike_id: RecordId, body: AppealIn, service: Service, account: AccountCaller) -> AppealOut:
    with _domain_errors():
        return AppealOut.of(service.file_appeal(strike_id, body.reason, account_id=account))


@router.post(
    "/appeals/{appeal_id}/decision",
    response_model=AppealDecisionOut,
    responses={**MODERATOR_RESPONSES, **_NOT_FOUND, **_CONFLICT, **_UNAVAILABLE},
    summary="A human moderator upholds or overturns an appeal",
)
def decide_appeal(
    appeal_id: RecordId, body: AppealDecisionIn, service: Service, moderator: ModeratorName
) -> AppealDecisionOut:
    with _domain_errors():
        resolution = service.decide_appeal(appeal_id, body.outcome, moderator=moderator, note=body.note)
    return AppealDecisionOut.of(resolution)


@router.post(
    "/accounts/{account_id}/penalties/{penalty_no}/action",
    response_model=ActionOut,
    responses={**MODERATOR_RESPONSES, **_NOT_FOUND, **_CONFLICT, **_UNAVAILABLE},
    summary="Reverse a penalty (with a reason), or confirm or reject an automated ban held for review",
)
def act_on_penalty(
    account_id: AccountId,
    penalty_no: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: PenaltyActionIn,
    service: Service,
    moderator: ModeratorName,
) -> ActionOut:
    with _domain_errors():
        result = service.act_on_penalty(
            account_id, penalty_no, body.action, moderator=moderator, reason=body.reason
        )
    return ActionOut.of(result)


@router.get(
    "/reviews",
    response_model=list[ReviewOut],
    responses={**MODERATOR_RESPONSES, **_UNAVAILABLE},
    summary="Automated bans waiting for a moderator (the review queue)",
)
def review_queue(
    service: Service, moderator: ModeratorName, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100
) -> list[ReviewOut]:
    with _domain_errors():
        queue = service.review_queue(limit)
    return [ReviewOut(account_id=a, hold=PenaltyOut.of(p, p.starts_at)) for a, p in queue]


@router.post(
    "/reports",
    response_model=ReportOut,
    status_code=status.HTTP_201_CREATED,
    responses={**ACCOUNT_RESPONSES, **_UNAVAILABLE},
    summary="Report another account, or its content, for breaking a policy",
)
def post_report(body: ReportIn, service: Service, account: AccountCaller) -> ReportOut:
    with _domain_errors():
        report = service.file_report(
            account,
            target_account_id=body.target_account_id,
            policy=body.policy,
            feature=body.feature,
            content_id=body.content_id,
            details=body.details,
        )
    return ReportOut.of(report)


@router.get(
    "/reports",
    response_model=list[ReportOut],
    responses={**ACCOUNT_RESPONSES, **_UNAVAILABLE},
    summary="The reports you made, with their outcomes",
)
def my_reports(service: Service, account: AccountCaller) -> list[ReportOut]:
    with _domain_errors():
        return [ReportOut.of(r) for r in service.reports_by(account)]


@router.get(
    "/moderation/reports",
    response_model=list[ModeratorReportOut],
    responses={**MODERATOR_RESPONSES, **_UNAVAILABLE},
    summary="Open reports, oldest first (the moderators' queue)",
)
def open_reports(
    service: Service, moderator: ModeratorName, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100
) -> list[ModeratorReportOut]:
    with _domain_errors():
        return [ModeratorReportOut.of(r) for r in service.open_reports(limit)]


@router.post(
    "/reports/{report_id}/resolution",
    response_model=ResolutionOut,
    responses={**MODERATOR_RESPONSES, **_NOT_FOUND, **_CONFLICT, **_UNAVAILABLE},
    summary="Resolve a report: actioned (records a moderator violation) or dismissed",
)
def resolve_report(
    report_id: RecordId, body: ReportResolutionIn, service: Service, moderator: ModeratorName
) -> ResolutionOut:
    with _domain_errors():
        report, decision = service.resolve_report(
            report_id, actioned=body.outcome == "actioned", moderator=moderator, note=body.note
        )
    return ResolutionOut(
        report=ModeratorReportOut.of(report), enforcement=DecisionOut.of(decision) if decision else None
    )
