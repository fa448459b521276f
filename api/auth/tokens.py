"""Short-lived HS256 access tokens (JWT) with a unique id, so one can be revoked.

Claims: ``sub`` (user id), ``role``, ``ver`` (the user's token version when issued), ``jti``,
``iat``, ``exp``, ``iss``. Only HS256 is accepted (no ``alg: none``, no key confusion); expiry
has no leeway. The policy gate compares ``ver`` with the stored version on every request, so
a password change, reset, role change or disabling ends every token issued before it.
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import jwt
from fastapi import Request

from fleetpilot.settings import Settings

ALGORITHM = "HS256"
ISSUER = "fleetpilot"
SECRET_FILE = "jwt_secret"
SECRET_BYTES = 32
VERIFIED_CACHE_SIZE = 8192  # tokens; ~1 kB each


class InvalidToken(Exception):
    """A token that is malformed, tampered with, expired or otherwise not ours."""


@dataclass(frozen=True)
class TokenKeys:
    """The signing secret and token lifetime of one running app."""

    secret: str
    lifetime: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenKeys:
        return cls(
            settings.jwt_secret or load_or_create_secret(settings.data_dir), timedelta(minutes=settings.token_minutes)
        )

    @staticmethod
    async def from_request(request: Request) -> TokenKeys:
        """The app's keys, as a FastAPI dependency (async: no worker-thread hop per request)."""
        return request.app.state.token_keys


def load_or_create_secret(data_dir: Path) -> str:
    """The secret in data_dir/jwt_secret, created once (mode 0600) when missing.

    O_EXCL makes concurrent first starts agree: the loser reads the winner's file.
    """
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(SECRET_BYTES))
    return path.read_text().strip()


@dataclass(frozen=True)
class Claims:
    user_id: int
    role: str
    jti: str
    expires_at: datetime
    version: int = 0


def issue_access_token(
    keys: TokenKeys, user_id: int, role: str, now: datetime | None = None, *, version: int = 0
) -> tuple[str, Claims]:
    now = now or datetime.now(timezone.utc)
    claims = Claims(user_id, role, uuid.uuid4().hex, now + keys.lifetime, version)
    token = jwt.encode(
        {
            "sub": str(user_id),
            "role": role,
            "ver": version,
            "jti": claims.jti,
            "iat": now,
            "exp": claims.expires_at,
            "iss": ISSUER,
        },
        keys.secret,
        algorithm=ALGORITHM,
    )
    return token, claims


def decode_access_token(token: str, keys: TokenKeys, now: datetime | None = None) -> Claims:
    claims = _verified(token, keys.secret)
    if claims.expires_at <= (now or datetime.now(timezone.utc)):
        raise InvalidToken("token expired")
    return claims


def _version(value: object) -> int:
    if type(value) is not int:
        raise ValueError("token version is not an integer")
    return value


@lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def _verified(token: str, secret: str) -> Claims:
    """Signature, issuer and claims checked once per token (verification costs ~0.2 ms and a
    client sends the same token many times); expiry is checked on every use by the caller.
    Failures are not cached."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "role", "ver", "jti", "iat", "exp", "iss"]},
        )
        return Claims(
            int(payload["sub"]),
            str(payload["role"]),
            str(payload["jti"]),
            datetime.fromtimestamp(payload["exp"], timezone.utc),
            _version(payload["ver"]),
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise InvalidToken("invalid token") from None
