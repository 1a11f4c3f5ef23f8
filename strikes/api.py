"""HTTP routes of the strike engine: an ``APIRouter`` the serving app includes.

Routes only translate: requests become domain calls on :class:`~strikes.service.StrikeService`, domain
errors become status codes (404 unknown strike or appeal, 409 a second appeal or decision, 422 an
invalid event, 503 database trouble). Moderator routes need an ``X-API-Key`` header holding one of
``TEGUR_MODERATOR_API_KEYS`` (401 without one, 403 with a wrong one). Reading an account's status and
filing an appeal are the account's own actions: the platform authenticates the account in front of
this service.

Wiring into an app::

    app = FastAPI(lifespan=strike_lifespan)   # or enter strike_lifespan(app) in your own lifespan
    app.include_router(strikes.api.router)
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response, status
from pydantic import AwareDatetime

from strikes.domain import MAX_ACCOUNT_ID, EventSource, ViolationEvent
from strikes.errors import ConflictError, InvalidEventError, NotFoundError, StorageError
from strikes.schemas import (
    AccountStatusOut,
    AppealDecisionIn,
    AppealDecisionOut,
    AppealIn,
    AppealOut,
    DecisionOut,
    ViolationIn,
)
from strikes.service import StrikeService
from strikes.settings import StrikeSettings, get_strike_settings

router = APIRouter(prefix="/v1", tags=["strikes"])

_UNAVAILABLE = {503: {"description": "The strike database is unreachable, or the service is not started."}}
#: Documented answers of the moderator-key check (see :func:`require_moderator`).
MODERATOR_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "No moderator API key in `X-API-Key`."},
    403: {"description": "A wrong moderator API key, or moderator endpoints are disabled."},
}
#: Strike and appeal ids are 64-bit database keys; larger ones are refused with 422, not sent to the database.
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A strike or appeal id.")]
_NOT_FOUND = {404: {"description": "No strike or appeal with that id."}}
_CONFLICT = {409: {"description": "The strike was already appealed, or the appeal already decided."}}


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


def require_moderator(
    settings: Annotated[StrikeSettings, Depends(get_strike_settings)],
    x_api_key: Annotated[str | None, Header(description="A moderator API key.")] = None,
) -> None:
    """Let the request through only with a configured moderator key in ``X-API-Key``."""
    if not x_api_key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "moderator endpoint: send a moderator API key in the X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    if not settings.moderator_api_keys:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "moderator endpoints are disabled: set TEGUR_MODERATOR_API_KEYS"
        )
    # compare_digest on every key: the time taken does not reveal how much of a key matched.
    given = x_api_key.encode()
    if not any(
        hmac.compare_digest(given, key.get_secret_value().encode()) for key in settings.moderator_api_keys
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid moderator API key")


Service = Annotated[StrikeService, Depends(get_strike_service)]
Moderator = Depends(require_moderator)


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


@router.post(
    "/violations",
    response_model=DecisionOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Moderator],
    summary="Record a moderator's violation decision and enforce the strike policy",
    responses={
        200: {"description": "Already recorded (same account, content id and policy): nothing changed."},
        **MODERATOR_RESPONSES,
        **_UNAVAILABLE,
    },
)
def post_violation(body: ViolationIn, service: Service, response: Response) -> DecisionOut:
    with _domain_errors():
        event = ViolationEvent(
            account_id=body.account_id,
            policy=body.policy,
            feature=body.feature,
            content_id=body.content_id,
            occurred_at=body.occurred_at or service.clock(),
            source=EventSource.MODERATOR,
            evidence=body.evidence,
            actor=body.moderator,
        )
        decision = service.record_violation(event)
    if decision.duplicate:
        response.status_code = status.HTTP_200_OK
    return DecisionOut.of(decision)


@router.get(
    "/accounts/{account_id}",
    response_model=AccountStatusOut,
    responses=_UNAVAILABLE,
    summary="An account's strikes, restrictions, ban state, distances to thresholds and history",
)
def get_account(
    account_id: Annotated[str, Path(min_length=1, max_length=MAX_ACCOUNT_ID)],
    service: Service,
    as_of: Annotated[
        AwareDatetime | None, Query(description="Recompute the state at this instant (with a timezone).")
    ] = None,
) -> AccountStatusOut:
    with _domain_errors():
        return AccountStatusOut.of(service.account_status(account_id, as_of))


@router.post(
    "/strikes/{strike_id}/appeal",
    response_model=AppealOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_NOT_FOUND, **_CONFLICT, **_UNAVAILABLE},
    summary="Appeal a strike (once per strike)",
)
def appeal_strike(strike_id: RecordId, body: AppealIn, service: Service) -> AppealOut:
    with _domain_errors():
        return AppealOut.of(service.file_appeal(strike_id, body.reason))


@router.post(
    "/appeals/{appeal_id}/decision",
    response_model=AppealDecisionOut,
    dependencies=[Moderator],
    responses={**MODERATOR_RESPONSES, **_NOT_FOUND, **_CONFLICT, **_UNAVAILABLE},
    summary="Uphold or overturn an appeal; overturning lifts what depended on the strike",
)
def decide_appeal(appeal_id: RecordId, body: AppealDecisionIn, service: Service) -> AppealDecisionOut:
    with _domain_errors():
        resolution = service.decide_appeal(appeal_id, body.outcome, moderator=body.moderator, note=body.note)
    return AppealDecisionOut.of(resolution)
