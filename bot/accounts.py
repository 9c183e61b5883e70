"""Staff web console accounts: passwords (scrypt), server-side sessions with a CSRF token each,
and sign-in attempts rate-limited per account and per address.

No web framework here: handlers/staff_web.py turns these into cookies and HTTP answers, and
`stationbot staff add / remove / list` (handlers/staff_accounts_cli.py) manages the accounts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.storage import StaffAccount, Storage, WebSession
from bot.text import UNPRINTABLE

# scrypt at OWASP's recommended cost (N=2^17, r=8, p=1: 128 MiB and ~0.3 s per hash), so a
# stolen database costs an attacker that much per guess. The parameters are stored with
# each hash: raising them later still verifies old passwords.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# at most this many hashes at once: each takes 128 MiB, a burst of sign-ins must not
# exhaust the station PC's memory
CONCURRENT_HASHES = 2
SESSION_HOURS = 12  # a working day; then sign in again
# sign-in failures allowed in FAILURE_WINDOW before further attempts are refused: few per
# account (guessing one password), more per address (a station's shared PC and its staff)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
MAX_NAME_CHARS = 40
MIN_PASSWORD_CHARS = 10
# generated passwords: no 0/O, 1/l/I to misread when copied from a screen
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class AccountError(Exception):
    """An account that cannot be created or removed; str() is one line for staff."""


class SignInRefused(Exception):
    """Wrong name or password, or too many attempts; `limited` tells which."""

    def __init__(self, limited: bool) -> None:
        super().__init__("too many attempts" if limited else "wrong name or password")
        self.limited = limited


@dataclass(frozen=True)
class Session:
    """A new sign-in: the token goes into the cookie (only its hash is stored)."""

    token: str
    csrf: str
    account: StaffAccount
    expires_at: datetime


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """'scrypt$N$r$p$salt$key' (base64), salted, for storage."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)))


def verify_password(password: str, stored: str) -> bool:
    """True when `password` is the one `stored` was made from (constant-time compare)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    text = unicodedata.normalize("NFKC", password).encode("utf-8")
    return hashlib.scrypt(
        text, salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=KEY_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def generate_password() -> str:
    """A random password that is easy to copy by hand: 'k7mq-p3xe-9tra-wn4h' (79 bits)."""
    chars = [secrets.choice(_PASSWORD_ALPHABET) for _ in range(16)]
    return "-".join("".join(chars[i : i + 4]) for i in range(0, 16, 4))


def check_name(name: str) -> str:
    """The account name trimmed; AccountError if it is empty, too long or unprintable."""
    name = unicodedata.normalize("NFKC", name or "").strip()
    if not name:
        raise AccountError("the account name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise AccountError(f"the account name is longer than {MAX_NAME_CHARS} characters")
    if UNPRINTABLE.search(name) or any(ch.isspace() and ch != " " for ch in name):
        raise AccountError("the account name contains control characters")
    return name


def token_hash(token: str) -> str:
    """What is stored for a session token (a copied database opens no session)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts:
    """Staff accounts and sessions over Storage."""

    def __init__(self, storage: Storage, *, hash_cost: int = SCRYPT_N) -> None:
        self.storage = storage
        self.hash_cost = hash_cost  # tests lower it; production keeps SCRYPT_N
        self._hashing = asyncio.Semaphore(CONCURRENT_HASHES)
        # verifying against this when the name is unknown takes as long as a real check,
        # so the answer's timing does not reveal which names exist
        self._decoy = hash_password(secrets.token_urlsafe(), n=hash_cost)

    async def add(self, name: str, password: str, station_id: str | None = None) -> StaffAccount:
        """A new account; with `station_id` it sees and acts on that station's items only."""
        name = check_name(name)
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
        hashed = await self._hash(password)
        try:
            return await self.storage.add_staff_account(name, hashed, station_id)
        except ValueError as error:
            raise AccountError(str(error)) from None

    async def remove(self, name: str) -> None:
        if not await self.storage.remove_staff_account(check_name(name)):
            raise AccountError(f"no staff account named {name!r}")

    async def list(self) -> list[StaffAccount]:
        return await self.storage.staff_accounts()

    async def sign_in(
        self, name: str, password: str, address: str, *, now: datetime | None = None
    ) -> Session:
        """A new session, or SignInRefused. While an account or an address has too many
        recent failures, every attempt is refused, even with the right password."""
        now = now or datetime.now(UTC)
        keys = [f"address:{address}"]
        try:
            name = check_name(name)
            keys.append(f"account:{name.casefold()}")
        except AccountError:
            name = ""
        since = now - FAILURE_WINDOW
        limits = {keys[0]: MAX_FAILURES_PER_ADDRESS}
        if len(keys) > 1:
            limits[keys[1]] = MAX_FAILURES_PER_ACCOUNT
        for key, limit in limits.items():
            if await self.storage.login_failures_since(key, since) >= limit:
                raise SignInRefused(limited=True)
        found = await self.storage.staff_password_hash(name) if name else None
        stored = found[1] if found else self._decoy
        correct = await self._verify(password or "", stored)
        if not (found and correct):
            await self.storage.record_login_failure(keys)
            raise SignInRefused(limited=False)
        await self.storage.clear_login_failures(keys[-1])
        account = found[0]
        session = Session(
            token=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            account=account,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
        await self.storage.create_web_session(
            token_hash(session.token), account.id, session.csrf, session.expires_at
        )
        return session

    async def session(self, token: str | None) -> WebSession | None:
        """The signed-in session behind a cookie value, or None."""
        if not token or len(token) > 100:
            return None
        return await self.storage.web_session(token_hash(token))

    async def sign_out(self, token: str) -> None:
        await self.storage.delete_web_session(token_hash(token))

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(hash_password, password, n=self.hash_cost)

    async def _verify(self, password: str, stored: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(verify_password, password, stored)
