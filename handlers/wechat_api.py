"""An async client for the WeChat Official Account API: customer-service text messages and
the menu, with the access token cached and refreshed, and failures classified for a sender.

WeChatTransient means "try again after retry_after seconds" (WeChatSetupError, one kind of
it: no access token until an operator fixes the app id, secret or IP whitelist, so the
message waits); WeChatRefused means WeChat will not take this message as it is
(window_closed: the resident's 48-hour window has closed and staff must reach them another
way). The app secret and access tokens travel in URL queries,
so no error text or log line of this module carries a URL or either of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
# A token lives 7200 s; taking a new one this early keeps a send from racing its expiry.
REFRESH_MARGIN_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 10.0

# WeChat's errcodes that say our token is invalid, expired, or not the latest one.
TOKEN_REJECTED = frozenset({40001, 40014, 42001})
# The 48-hour window has closed (45015), or the resident got as many messages as a window
# allows (45047): only the resident writing again reopens it.
WINDOW_CLOSED = frozenset({45015, 45047})
# errcode -> seconds to wait: "system busy" passes quickly; 45009 is a daily API quota, so
# hammering it is pointless (it resets at midnight, Beijing time).
TRANSIENT_ERRCODES = {-1: 2.0, 45009: 600.0}
NETWORK_RETRY_SECONDS = 5.0  # a dropped connection, a timeout or a 5xx
# /cgi-bin/token's refusals, which only an operator can fix: what to tell them.
SETUP_HINTS = {
    40002: "the grant_type is wrong",
    40013: "the app_id is wrong",
    40125: "the app_secret is wrong",
    40164: "this server's IP address is not in the account's IP whitelist (IP白名单)",
}
SETUP_RETRY_SECONDS = 60.0
# Secrets in any text we did not write ourselves (an aiohttp error may quote the URL).
SECRET_IN_QUERY = re.compile(r"(access_token|secret)=[^&\s'\"]+", re.IGNORECASE)

# WeChat's menu limits: more is refused with an errcode that names no button.
MAX_TOP_BUTTONS = 3
MAX_SUB_BUTTONS = 5


class WeChatApiError(Exception):
    """A WeChat API call that did not succeed; its text never contains a secret."""


class WeChatTransient(WeChatApiError):
    """WeChat may well take the same call later: retry after `retry_after` seconds.

    A timeout is one too, although the message may have arrived: sending it again risks a
    duplicate, which is better than a staff reply that silently never arrives.
    """

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(f"{reason} (retry in {retry_after:g} s)")
        self.reason = reason
        self.retry_after = retry_after


class WeChatSetupError(WeChatTransient):
    """WeChat will not issue an access token: the app id, secret or IP whitelist is wrong.

    Transient for the message, which is not at fault and should wait; an operator must act.
    """

    def __init__(self, errcode: int, errmsg: str) -> None:
        hint = SETUP_HINTS.get(errcode, "check the wechat settings")
        super().__init__(
            f"no WeChat access token: errcode {errcode}: {errmsg} ({hint})", SETUP_RETRY_SECONDS
        )
        self.errcode = errcode


class WeChatRefused(WeChatApiError):
    """WeChat refused the call for good: sending it again unchanged will not help.

    `errcode` is WeChat's, or the HTTP status when the answer was not WeChat's JSON.
    """

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat refused: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def window_closed(self) -> bool:
        """The resident cannot be written to until they write first (staff should phone)."""
        return self.errcode in WINDOW_CLOSED


class WeChatApi:
    """The API calls the bot makes, over one aiohttp session; use `async with` or start/close.

    Safe to share between tasks: concurrent calls wait for one token fetch, not one each.
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.base_url = base_url.rstrip("/")
        self.refresh_margin = refresh_margin
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._refresh_at = 0.0
        self._token_lock = asyncio.Lock()
        self._seen_tokens: set[str] = set()  # redacted from error texts even after replaced
        # A failed token fetch, answered to the calls queued behind it until it may have
        # passed, so fifty sends with WeChat down wait for one timeout, not fifty in a row.
        self._token_failure: WeChatTransient | None = None
        self._token_failure_until = 0.0

    def __repr__(self) -> str:
        return f"WeChatApi(app_id={self.app_id!r}, base_url={self.base_url!r})"

    async def start(self) -> None:
        """Opens the connection pool (at start-up, inside the event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        """Closes the connection pool."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> WeChatApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- the calls ---------------------------------------------------------------------------

    async def send_text(self, openid: str, text: str) -> None:
        """Sends a customer-service text message to a resident (within their 48-hour window)."""
        payload = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self._call("/cgi-bin/message/custom/send", payload)

    async def create_menu(self, buttons: list[dict[str, Any]]) -> None:
        """Publishes the account's menu: up to 3 buttons, each with up to 5 sub_button."""
        check_menu(buttons)
        await self._call("/cgi-bin/menu/create", {"button": buttons})

    async def access_token(self) -> str:
        """A token that is valid for a while yet, fetched only when the cached one is not."""
        return await self._fresh_token(stale=None)

    # --- the access token --------------------------------------------------------------------

    def _cached(self, stale: str | None) -> str | None:
        """The cached token unless missing, due for refresh, or the one WeChat just refused."""
        if self._token is None or self._token == stale or self._clock() >= self._refresh_at:
            return None
        return self._token

    async def _fresh_token(self, stale: str | None) -> str:
        """The cached token, or a new one; `stale` is a token WeChat has just rejected."""
        token = self._cached(stale)
        if token is None:
            # One fetch at a time: the tasks queued here find the new token on waking.
            async with self._token_lock:
                token = self._cached(stale) or await self._fetch_token_unless_failing()
        return token

    async def _fetch_token_unless_failing(self) -> str:
        """A new token, unless a fetch failed so recently that trying again is pointless."""
        if self._token_failure is not None and self._clock() < self._token_failure_until:
            raise self._token_failure.with_traceback(None)
        try:
            return await self._fetch_token()
        except WeChatTransient as error:
            self._token_failure = error
            self._token_failure_until = self._clock() + error.retry_after
            raise

    async def _fetch_token(self) -> str:
        """Takes a new token from /cgi-bin/token and caches it until shortly before expiry."""
        query = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        answer = await self._request("GET", "/cgi-bin/token", query, None)
        errcode = answer.get("errcode", 0)
        if errcode and errcode not in TRANSIENT_ERRCODES:
            error = WeChatSetupError(errcode, self._redact(str(answer.get("errmsg", ""))))
            log.error("%s", error)
            raise error
        self._raise_for_errcode(answer)
        token, expires_in = _token_from(answer)
        self._seen_tokens.add(token)
        # a short-lived token (a test's, or WeChat's own near the end) is refreshed halfway
        margin = min(self.refresh_margin, expires_in / 2)
        self._token, self._refresh_at = token, self._clock() + expires_in - margin
        log.info("WeChat access token refreshed, valid for %d s", expires_in)
        return token

    # --- one call ----------------------------------------------------------------------------

    async def _call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Makes one authenticated call, once more with a new token if WeChat refused ours."""
        token = await self._fresh_token(stale=None)
        answer = await self._request("POST", path, {"access_token": token}, payload)
        if answer.get("errcode") in TOKEN_REJECTED:
            log.info("WeChat rejected the access token (errcode %s): refreshing", answer["errcode"])
            token = await self._fresh_token(stale=token)
            answer = await self._request("POST", path, {"access_token": token}, payload)
        self._raise_for_errcode(answer)
        return answer

    async def _request(
        self, method: str, path: str, query: dict[str, str], payload: dict[str, Any] | None
    ) -> dict[str, Any]:
        """WeChat's JSON answer to one HTTP request; transport failures become WeChatTransient."""
        if self._session is None or self._session.closed:
            raise RuntimeError("WeChatApi is not started: use `async with` or start()")
        try:
            async with self._session.request(
                method, self.base_url + path, params=query, **_json_body(payload)
            ) as response:
                status, body = response.status, await response.read()
        except TimeoutError:
            raise WeChatTransient(f"{path}: timed out", NETWORK_RETRY_SECONDS) from None
        except aiohttp.ClientError as error:
            # `from None`: the original error may quote the URL, and tracebacks show causes
            reason = self._redact(f"{path}: {type(error).__name__}: {error}")
            raise WeChatTransient(reason, NETWORK_RETRY_SECONDS) from None
        log.debug("WeChat %s %s: HTTP %s", method, path, status)  # the path, never the query
        return _answer_from(path, status, body)

    def _raise_for_errcode(self, answer: dict[str, Any]) -> None:
        """Raises the error a non-zero errcode amounts to."""
        errcode = answer.get("errcode", 0)
        if not errcode:
            return
        if not isinstance(errcode, int):
            raise WeChatTransient("an errcode that is not a number", NETWORK_RETRY_SECONDS)
        errmsg = self._redact(str(answer.get("errmsg", "")))
        if errcode in TRANSIENT_ERRCODES:
            raise WeChatTransient(f"errcode {errcode}: {errmsg}", TRANSIENT_ERRCODES[errcode])
        raise WeChatRefused(errcode, errmsg)

    def _redact(self, text: str) -> str:
        """`text` without the app secret or any access token this client has held."""
        text = SECRET_IN_QUERY.sub(r"\1=***", text)
        for secret in (self._secret, *self._seen_tokens):
            if secret:
                text = text.replace(secret, "***")
        return text


def _json_body(payload: dict[str, Any] | None) -> dict[str, Any]:
    """The request's body as UTF-8 JSON with Chinese as is: WeChat shows \\uXXXX escapes
    literally to the resident."""
    if payload is None:
        return {}
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return {"data": data, "headers": {"Content-Type": "application/json; charset=utf-8"}}


def _answer_from(path: str, status: int, body: bytes) -> dict[str, Any]:
    """WeChat's JSON answer, or the error an HTTP failure or a non-JSON body amounts to."""
    if status >= 500 or status == 429:
        raise WeChatTransient(f"{path}: HTTP {status}", NETWORK_RETRY_SECONDS)
    if status != 200:
        raise WeChatRefused(status, f"{path}: HTTP {status}")
    try:
        answer = json.loads(body)
    except ValueError:
        raise WeChatTransient(
            f"{path}: an answer that is not JSON", NETWORK_RETRY_SECONDS
        ) from None
    if not isinstance(answer, dict):
        raise WeChatTransient(f"{path}: an answer that is not a JSON object", NETWORK_RETRY_SECONDS)
    return answer


def _token_from(answer: dict[str, Any]) -> tuple[str, float]:
    """The token and its lifetime in seconds from /cgi-bin/token's answer."""
    token, expires_in = answer.get("access_token"), answer.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
        raise WeChatTransient("/cgi-bin/token: an answer without a token", NETWORK_RETRY_SECONDS)
    return token, float(expires_in)


def check_menu(buttons: list[dict[str, Any]]) -> None:
    """Refuses a menu WeChat would refuse, saying which limit it breaks."""
    if not 1 <= len(buttons) <= MAX_TOP_BUTTONS:
        raise ValueError(f"a menu has 1 to {MAX_TOP_BUTTONS} buttons, not {len(buttons)}")
    for button in buttons:
        subs = button.get("sub_button", [])
        if len(subs) > MAX_SUB_BUTTONS:
            raise ValueError(
                f"the button {button.get('name')!r} has {len(subs)} sub-buttons, "
                f"at most {MAX_SUB_BUTTONS}"
            )
