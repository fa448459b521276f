"""Password hashing with Argon2id (argon2-cffi defaults: 64 MiB, t=3, p=4), and the rules
for new passwords.

Hashing costs tens of milliseconds of CPU on purpose, so it runs in a worker thread to
keep the event loop serving other requests.

New passwords (OWASP ASVS 2.1): at least 12 characters, and not one of the 30,000 most
common passwords of public breaches — the list shipped by the ``zxcvbn`` package (pinned
in requirements.lock), compared case-insensitively.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256  # argon2 accepts more; a cap keeps hashing cost bounded

_hasher = PasswordHasher()
# Verified against when the username does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("fleetpilot-no-such-user")


# Breached/common passwords (lower case); "password" and "12345678" are among the first.
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])


class WeakPassword(ValueError):
    """A password outside the accepted length, or a common one."""


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise WeakPassword(f"passwords must have {MIN_PASSWORD_CHARS}..{MAX_PASSWORD_CHARS} characters")
    if password.lower() in COMMON_PASSWORDS or password.strip().lower() in COMMON_PASSWORDS:
        raise WeakPassword("this password is on a list of common, breached passwords; choose another")


async def hash_password(password: str, *, check_rules: bool = True) -> str:
    """Argon2id hash; `check_rules=False` only to re-hash a password already accepted."""
    if check_rules:
        check_password_rules(password)
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; a None hash (unknown user) costs the same and is False."""
    return await asyncio.to_thread(_verify, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
