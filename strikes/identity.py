"""Who is calling: signed account tokens from the platform, and named API keys for services and staff.

**Accounts.** The platform in front of Tegur authenticates its users and vouches for an account id
with a token signed by a shared secret (``TEGUR_ACCOUNT_TOKEN_SECRET``), sent as
``Authorization: Bearer <token>``::

    token = "v1." + base64url(account_id) + "." + str(expires_unix) + "." + hex(HMAC-SHA256(secret, payload))
    payload = "v1." + base64url(account_id) + "." + str(expires_unix)

:func:`sign_account_token` makes one (the platform may use it, or reimplement the three lines).
Unsigned, tampered and expired tokens are refused; an account acts only on its own records.

**Staff and services.** ``TEGUR_MODERATOR_API_KEYS`` (human moderators) and
``TEGUR_CLASSIFIER_API_KEYS`` (the classifier service) hold ``name=key`` pairs; the name identifies the
caller in the ledger (a bare key is named ``key-<8 hex digits of its SHA-256>``). The two key sets are
separate: a classifier key cannot decide appeals, a moderator key is not the classifier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

from strikes.domain import MAX_ACCOUNT_ID, text_problem

TOKEN_VERSION = "v1"


class TokenError(ValueError):
    """The account token is missing, malformed, badly signed or expired (the message says which)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def sign_account_token(secret: str, account_id: str, expires_at: datetime) -> str:
    """A token vouching for ``account_id`` until ``expires_at`` (what the platform sends)."""
    payload = f"{TOKEN_VERSION}.{_b64(account_id.encode())}.{int(expires_at.timestamp())}"
    return f"{payload}.{_signature(secret, payload)}"


def verify_account_token(secret: str, token: str, now: datetime) -> str:
    """The account id a token vouches for.

    Raises:
        TokenError: Malformed, signed with another secret, or expired.
    """
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != TOKEN_VERSION:
        raise TokenError("malformed account token; expected v1.<account>.<expires>.<signature>")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_signature(secret, payload).encode(), parts[3].encode("ascii", "replace")):
        raise TokenError("account token signature does not match")
    try:
        account_id = _unb64(parts[1]).decode("utf-8")
        expires = int(parts[2])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TokenError("malformed account token") from None
    if expires < now.timestamp():
        raise TokenError("account token expired; ask the platform for a new one")
    if not account_id or len(account_id) > MAX_ACCOUNT_ID or text_problem(account_id):
        raise TokenError("account token names an invalid account id")
    return account_id


def key_name(entry: str) -> tuple[str, str]:
    """Split a configured ``name=key`` into (name, key); a bare key gets a name derived from it."""
    name, sep, key = entry.partition("=")
    if sep and name.strip():
        return name.strip(), key.strip()
    return f"key-{hashlib.sha256(entry.encode()).hexdigest()[:8]}", entry


def match_key(given: str, entries: tuple[str, ...]) -> str | None:
    """The name of the configured key equal to ``given``, or None (every key is compared)."""
    found = None
    for entry in entries:
        name, key = key_name(entry)
        # compare_digest on every key: the time taken does not reveal how much of a key matched.
        if hmac.compare_digest(given.encode(), key.encode()):
            found = name
    return found
