"""Domain errors of the strike engine. Routes map them to HTTP status codes; the CLI prints them."""

from __future__ import annotations

from tegur.errors import TegurError


class StrikeError(TegurError):
    """Base class for errors a caller of the strike engine can cause and fix."""


class InvalidEventError(StrikeError):
    """An event is malformed: naive timestamp, empty id, violation dated in the future, ..."""


class NotFoundError(StrikeError):
    """A strike or appeal id names nothing in the ledger."""


class StrikeNotFoundError(NotFoundError):
    """No violation record has this id."""


class AppealNotFoundError(NotFoundError):
    """No appeal has this id."""


class PenaltyNotFoundError(NotFoundError):
    """The account has no such penalty in force."""


class ReportNotFoundError(NotFoundError):
    """No report has this id."""


class ConflictError(StrikeError):
    """The request contradicts the ledger: a second appeal of one strike, a second appeal decision."""


class AppealAlreadyFiledError(ConflictError):
    """The strike was already appealed; an account can appeal a strike once."""


class AppealAlreadyDecidedError(ConflictError):
    """The appeal already has a decision; decisions are final."""


class StorageError(StrikeError):
    """The database is unreachable, unmigrated or holds rows this code cannot read."""


class AppealWindowClosedError(ConflictError):
    """The strike was recorded longer ago than the policy's appeal window."""


class ForbiddenError(StrikeError):
    """The authenticated caller may not act on this account's records."""
