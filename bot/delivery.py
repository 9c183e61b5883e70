"""How Telegram updates reach the handlers and replies reach Telegram, so that none is lost.

Long polling confirms updates by asking for the next ones, so the bot asks only once the
updates it holds are handled (PollWhenHandled); an update is recorded as handled only after
its reply went out (InOrderPerResident), so one redelivered after a crash is answered if it
was not yet and skipped if it was; a Bot API call that failed without reaching Telegram is
sent again (Resend); calls go over aiohttp (AiohttpRequest), the cheapest part to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
from telegram import Update
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter, BaseRateLimiter, BaseUpdateProcessor
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBDeprecationWarning

from bot.core import Station

log = logging.getLogger(__name__)

# A call failing with a 5xx or a dropped connection is tried this often in all, waiting
# RESEND_FIRST_DELAY seconds before the second try and twice as long before each next one.
RESEND_ATTEMPTS = 5
RESEND_FIRST_DELAY = 0.5
# Polling waits at most this long for the updates in hand: one reply stuck behind a long
# retry_after must not keep every other resident waiting (that update is then confirmed
# before it is handled, and a crash in that window would lose it).
POLL_HOLD_SECONDS = 10.0

ApiCall = Callable[..., Coroutine[Any, Any, Any]]


class Resend(BaseRateLimiter[int]):
    """Sends a Bot API call again when Telegram did not take it, optionally throttled.

    Retried: a 429 (after its retry_after, unless the throttle already waited them out), a
    5xx answer and a connection dropped before any answer. Not retried: a timeout, since
    the message may have arrived and resending could say it twice.
    """

    def __init__(
        self,
        throttle: AIORateLimiter | None,
        *,
        attempts: int = RESEND_ATTEMPTS,
        first_delay: float = RESEND_FIRST_DELAY,
    ) -> None:
        self.throttle = throttle
        self.attempts = attempts
        self.first_delay = first_delay

    async def initialize(self) -> None:
        if self.throttle is not None:
            await self.throttle.initialize()

    async def shutdown(self) -> None:
        if self.throttle is not None:
            await self.throttle.shutdown()

    async def process_request(
        self,
        callback: ApiCall,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                if self.throttle is not None:
                    return await self.throttle.process_request(
                        callback, args, kwargs, endpoint, data, rate_limit_args
                    )
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if self.throttle is not None or attempt == self.attempts:
                    raise
                wait = retry_seconds(error)
                log.info("Telegram asked to wait %s s before %s", wait, endpoint)
                await asyncio.sleep(wait)
            except TimedOut:
                raise
            except NetworkError as error:
                if attempt == self.attempts:
                    raise
                log.warning(
                    "Telegram %s failed (%s): trying again in %.1f s", endpoint, error, delay
                )
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")


class AiohttpRequest(BaseRequest):
    """PTB's connection to the Bot API over aiohttp instead of httpx.

    Under load the bot's main cost is calling the Bot API: aiohttp takes about a tenth of
    httpx's CPU per call (0.2 ms against 2.2 ms here, see docs/benchmarks.md).
    """

    def __init__(
        self,
        connection_pool_size: int = 256,
        *,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self.connection_pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connection_pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        # aiohttp has no write timeout: a write that stalls shows as a read that times out
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_given(pool_timeout, self._pool_timeout),
            sock_connect=_given(connect_timeout, self._connect_timeout),
            sock_read=_given(read_timeout, self._read_timeout),
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                content = await response.read()
        except TimeoutError as error:  # aiohttp's timeouts are TimeoutErrors
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        log.debug("%s %s: %s", method, url, response.status)  # the token is redacted
        return response.status, content


def _given(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """Form fields, as multipart when the call uploads a file (e.g. /export's CSV)."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


class PollWhenHandled(AiohttpRequest):
    """The getUpdates connection: asks for new updates only once those fetched are handled.

    Asking for the next updates confirms the previous ones to Telegram, which then never
    sends them again; confirming only handled updates means a crash loses none.
    """

    def __init__(
        self,
        updates: asyncio.Queue,
        hold_seconds: float = POLL_HOLD_SECONDS,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.updates = updates
        self.hold_seconds = hold_seconds

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        # the application calls task_done() once an update's handling has finished
        try:
            async with asyncio.timeout(self.hold_seconds):
                await self.updates.join()
        except TimeoutError:
            log.warning("updates still being handled after %.0f s: polling on", self.hold_seconds)
        return await super().do_request(*args, **kwargs)


class InOrderPerResident(BaseUpdateProcessor):
    """Handles updates of different residents concurrently, each resident's in order.

    An update already handled (Telegram redelivers the last batch after a crash) is skipped;
    an update is recorded as handled only once its handlers finished, i.e. its reply was sent.
    """

    def __init__(self, station: Station, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self.station = station
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: dict[int, int] = {}  # key -> updates holding or waiting for its lock

    async def initialize(self) -> None:
        """Nothing to set up: the station is opened by its owner."""

    async def shutdown(self) -> None:
        """Nothing to free: the station is closed by its owner."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        key = resident_key(update)
        async with self._turn(key):
            if await self.station.handled_before(update.update_id):
                if isinstance(coroutine, Coroutine):
                    coroutine.close()
                log.info("update %s was handled before: skipped", update.update_id)
                return
            await coroutine
            await self.station.mark_handled(update.update_id)

    @contextlib.asynccontextmanager
    async def _turn(self, key: int | None):
        if key is None:
            yield
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:  # nobody else queued for this resident: forget the lock
                del self._holders[key], self._locks[key]


def retry_seconds(error: RetryAfter) -> float:
    """Telegram's retry_after in seconds (PTB is moving it from int to timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = error.retry_after
    return wait if isinstance(wait, (int, float)) else wait.total_seconds()


def resident_key(update: Update) -> int | None:
    """Whose updates must keep their order: the sender's, else the chat's."""
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None
