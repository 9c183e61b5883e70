"""The Telegram channel: updates in (long polling or a webhook) through the inbox, messages
out through the outbox, and `stationbot run`.

Polling stores each batch of updates in the inbox before asking for the next (which confirms
them to Telegram); a webhook stores the update before answering 200. The dispatcher then
hands each stored update to PTB's handlers (handlers/resident.py, handlers/staff.py), which
call the core; the core queues the replies, and the outbox's sender delivers them here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InputFile,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest, RequestData

from bot.config import Config
from bot.core import Station
from bot.messages import LANGUAGES, t
from bot.outbox import Limit, Outgoing, Refused, Retry
from bot.staff import StaffDesk
from bot.stations import several
from bot.storage import InboxRow, StorageError
from bot.text import split_text as split_at
from handlers import resident, staff
from handlers.context import DESK_KEY, STATION_KEY
from handlers.runtime import PURGE_INTERVAL_SECONDS, Runtime, purge_once

log = logging.getLogger(__name__)

CHANNEL = "telegram"
CONNECTIONS = 64  # to the Bot API, for replies, staff notices and button answers
POLL_TIMEOUT = 10  # seconds a getUpdates call waits for news
POLL_BACKOFF_MAX = 30.0
# Telegram's limits (core.telegram.org/bots/faq): about 30 messages a second in all, one a
# second in a private chat (short bursts pass), 20 a minute in a group.
GLOBAL_LIMIT = Limit(CHANNEL, 30, 1.03)  # a little margin: jitter must not cost a 429
PRIVATE_PER_SECONDS = (3, 3.0)
GROUP_PER_MINUTE = (20, 60.0)
MAX_MESSAGE = 4096
MAX_WEBHOOK_BODY = 1 << 20
ALL_UPDATES = list(Update.ALL_TYPES)
COMMANDS = ("start", "help", "wish", "mine", "language", "forget")
MIN_SECRET_CHARS = 8  # shorter pieces would redact ordinary words


# --- the Bot API connection ---------------------------------------------------------------


class AiohttpRequest(BaseRequest):
    """PTB's connection to the Bot API over aiohttp instead of httpx.

    Under load the bot's main cost is calling the Bot API: aiohttp takes about a tenth of
    httpx's CPU per call (see docs/benchmarks.md). Error texts never carry the request URL,
    which holds the token.
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
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
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
            raise TimedOut("the Bot API did not answer in time") from error
        except aiohttp.ClientError as error:
            # aiohttp's texts can name the URL, and the URL holds the token: never pass them on
            raise NetworkError(
                f"connection to the Bot API failed ({type(error).__name__})"
            ) from None
        log.debug("%s %s: %s", method, url, response.status)  # the token is redacted
        return response.status, content

    async def call(self, url: str, parameters: dict[str, Any]) -> Any:
        """A Bot API call with a JSON body, its result as Telegram sent it (no PTB objects:
        the bot's hot paths, getUpdates and sendMessage, skip building and parsing them).
        Telegram's refusals become PTB's exceptions, with no URL in their text."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        body = {key: value for key, value in parameters.items() if value is not None}
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._connect_timeout, sock_read=self._read_timeout
        )
        method = url.rpartition("/")[2]
        try:
            async with self._session.post(url, json=body, timeout=timeout) as response:
                status, data = response.status, await response.json(content_type=None)
        except TimeoutError as error:
            raise TimedOut("the Bot API did not answer in time") from error
        except (aiohttp.ClientError, ValueError) as error:
            raise NetworkError(f"{method} failed ({type(error).__name__})") from None
        log.debug("POST %s: %s", url, status)  # the token is redacted
        if status == 200 and isinstance(data, dict) and data.get("ok"):
            return data.get("result")
        data = data if isinstance(data, dict) else {}
        description = str(data.get("description", ""))
        if status in (401, 404):
            raise InvalidToken(description or "Unauthorized")
        if status == 429:
            raise RetryAfter(int((data.get("parameters") or {}).get("retry_after", 1)))
        if status == 403:
            raise Forbidden(description)
        if status == 400:
            raise BadRequest(description)
        raise NetworkError(f"{method} answered {status}: {description}")


def _given(value: Any, default: float | None) -> float | None:
    return default if value is BaseRequest.DEFAULT_NONE else value


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


# --- out: the transport the outbox's sender uses ------------------------------------------


class TelegramTransport:
    """Renders an Outgoing as Bot API calls; maps Telegram's answers to Retry / Refused."""

    channel = CHANNEL

    def __init__(
        self, bot: Bot, api: AiohttpRequest, api_url: str, *, limited: bool = True
    ) -> None:
        self.bot = bot  # for uploads (the export's CSV)
        self.api = api
        self.api_url = api_url  # base URL with the token: never logged unredacted
        self.limited = limited  # off only to measure the bot itself (benchmarks)

    def limits(self, message: Outgoing) -> Sequence[Limit]:
        if not self.limited:
            return []
        if message.kind == "retire":  # an edit, not a new message in the chat
            return [GLOBAL_LIMIT]
        count, seconds = (
            GROUP_PER_MINUTE if message.address.startswith("-") else PRIVATE_PER_SECONDS
        )
        return [GLOBAL_LIMIT, Limit(f"{CHANNEL}:{message.address}", count, seconds)]

    async def send(self, message: Outgoing) -> int | None:
        try:
            return await self._send(message)
        except (Forbidden, BadRequest) as error:  # blocked, chat gone, message refused
            raise Refused(f"Telegram refused: {error.message}") from None
        except RetryAfter as error:
            raise Retry(f"Telegram asked to wait {error.retry_after}", _seconds(error)) from None
        except (TimedOut, NetworkError) as error:
            raise Retry(f"Telegram unreachable: {error}", 2.0) from None
        except InvalidToken:
            raise Retry("the bot token was rejected", 60.0, whole_channel=True) from None
        except TelegramError as error:
            raise Refused(f"Telegram refused: {error.message}") from None

    async def _send(self, message: Outgoing) -> int | None:
        chat_id = int(message.address)
        if message.kind == "retire":
            with contextlib.suppress(BadRequest):  # already gone, or too old to edit
                await self.api.call(
                    f"{self.api_url}/editMessageReplyMarkup",
                    {"chat_id": chat_id, "message_id": message.message_id},
                )
            return None
        if message.kind == "document" and message.document:
            with open(message.document, "rb") as file:
                sent = await self.bot.send_document(
                    chat_id,
                    InputFile(
                        file.read(), filename=message.filename or Path(message.document).name
                    ),
                    caption=message.text[:1024] or None,
                )
            return sent.message_id
        chunks = split_text(message.text)
        sent_id = None
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            quote = message.quote if index == 0 else None
            sent = await self.api.call(
                f"{self.api_url}/sendMessage",
                {
                    "chat_id": chat_id,
                    "text": chunk,
                    "parse_mode": ParseMode.HTML.value if message.html else None,
                    "reply_markup": markup(message) if last else None,
                    "reply_parameters": (
                        {"message_id": quote, "allow_sending_without_reply": True}
                        if quote
                        else None
                    ),
                },
            )
            sent_id = sent.get("message_id") if isinstance(sent, dict) else None
        return sent_id


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Text in pieces Telegram takes (bot.text.split_text at Telegram's limit)."""
    return split_at(text, limit)


def markup(message: Outgoing) -> dict[str, Any] | None:
    """The Bot API's reply_markup: inline buttons if the message has any, else the big topic
    keyboard, else a request to reply."""
    if message.buttons:
        return {
            "inline_keyboard": [
                [{"text": b.label, "callback_data": b.data} for b in row] for row in message.buttons
            ]
        }
    if message.keyboard:
        return {
            "keyboard": [[{"text": label} for label in row] for row in message.keyboard],
            "resize_keyboard": True,
            "is_persistent": True,
        }
    if message.force_reply:
        return {"force_reply": True}
    return None


def _seconds(error: RetryAfter) -> float:
    wait = error.retry_after
    return wait if isinstance(wait, int | float) else wait.total_seconds()


# --- in: polling and the webhook ------------------------------------------------------------


def resident_key(update: dict[str, Any]) -> str:
    """Whose updates keep their order, read from the update as Telegram sent it: the
    sender's (an anonymous group admin or a channel speaks as its chat), else the chat's."""
    for kind, body in update.items():
        if not isinstance(body, dict):
            continue
        message = body.get("message") if kind == "callback_query" else body
        sender_chat = (message or {}).get("sender_chat") if kind != "callback_query" else None
        if isinstance(sender_chat, dict) and "id" in sender_chat:
            return f"{CHANNEL}:chat{sender_chat['id']}"
        sender = body.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return f"{CHANNEL}:{sender['id']}"
        chat = (message or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return f"{CHANNEL}:chat{chat['id']}"
    return f"{CHANNEL}:update{update.get('update_id')}"


def inbox_rows(updates: Iterable[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """Updates as Telegram sent them, for the inbox: parsed only when handled."""
    return [
        (CHANNEL, str(update["update_id"]), resident_key(update), json.dumps(update))
        for update in updates
    ]


class TelegramChannel:
    """The running Telegram side: the PTB application, polling or the webhook route; the
    runtime's dispatcher hands it stored updates and its courier uses its transport."""

    def __init__(
        self, config: Config, station: Station, runtime: Runtime, *, poll: bool = True
    ) -> None:
        self.config = config
        self.station = station
        self.runtime = runtime
        self.poll_updates = poll
        self.requests = bot_api_connections()
        self.app = build_application(config, station, self.requests)
        transport = TelegramTransport(
            self.app.bot,
            self.requests[0],
            f"{config.base_url}{config.token}",
            limited=config.rate_limiter,
        )
        runtime.add(CHANNEL, self.handle, transport)
        self.dispatcher = runtime.dispatcher
        self.courier = runtime.courier
        if config.webhook is not None and not poll:  # a server of its own: maybe public
            server = web.Application(client_max_size=MAX_WEBHOOK_BODY)
            server.router.add_post(config.webhook.path, self.receive_webhook)
            runtime.serve_app(server, config.webhook.listen, config.webhook.port)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def handle(self, row: InboxRow) -> None:
        """Hands one stored update to the PTB handlers."""
        update = Update.de_json(json.loads(row.payload), self.app.bot)
        await self.app.process_update(update)

    async def start(self) -> None:
        await self._initialize()
        await announce_commands(self.app)
        await self.app.start()
        if self.poll_updates:
            await self.app.bot.delete_webhook()
            self._tasks.append(asyncio.create_task(self.poll()))

    async def announce(self) -> None:
        """Once the web server listens: tells Telegram where the webhook is."""
        webhook = self.config.webhook
        if webhook is not None and not self.poll_updates:
            await self.app.bot.set_webhook(
                webhook.url, secret_token=webhook.secret_token, allowed_updates=Update.ALL_TYPES
            )

    async def _initialize(self) -> None:
        """Connects to Telegram (getMe), waiting out network failures; a rejected token
        (InvalidToken) stops at once."""
        backoff = 1.0
        while True:
            try:
                await self.app.initialize()
                return
            except (NetworkError, RetryAfter) as error:
                if isinstance(error, InvalidToken):
                    raise
                log.warning(
                    "Telegram unreachable at start-up: %s (trying again in %.0f s)", error, backoff
                )
                await self.app.shutdown()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, POLL_BACKOFF_MAX)

    async def close_intake(self) -> None:
        """Stops polling: what was stored is still handled and answered."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Closes the Bot API connection (the runtime has finished and sent what it could;
        the rest waits in the outbox for the next start)."""
        await self.close_intake()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        for request in self.requests:  # also when start-up failed half way (getMe refused)
            await request.shutdown()

    async def poll(self) -> None:
        """Long polling: each batch is stored before the next request confirms it."""
        offset: int | None = None
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                updates = (
                    await self.requests[1].call(
                        f"{self.config.base_url}{self.config.token}/getUpdates",
                        {"offset": offset, "timeout": POLL_TIMEOUT, "allowed_updates": ALL_UPDATES},
                    )
                    or []
                )
                if updates:
                    fresh = await self.station.storage.receive(inbox_rows(updates))
                    self.dispatcher.submit(fresh)
                    offset = updates[-1]["update_id"] + 1
                backoff = 1.0
            except (NetworkError, RetryAfter, StorageError) as error:
                if isinstance(error, RetryAfter):
                    backoff = max(backoff, _seconds(error))
                log.warning("polling: %s (trying again in %.0f s)", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, POLL_BACKOFF_MAX)

    async def receive_webhook(self, request: web.Request) -> web.Response:
        """POST from Telegram: the secret header checked in constant time, the update stored
        before the 200 that confirms it."""
        secret = self.config.webhook.secret_token if self.config.webhook else None
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403, text="forbidden")
        if (request.content_length or 0) > MAX_WEBHOOK_BODY:
            return web.Response(status=413, text="too large")
        try:
            update = await request.json()
        except ValueError:
            return web.Response(status=400, text="not an update")
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        try:
            fresh = await self.station.storage.receive(inbox_rows([update]))
        except StorageError as error:
            log.error("webhook: %s", error)
            return web.Response(status=503, text="try again")  # Telegram sends it again
        self.dispatcher.submit(fresh)
        return web.Response(text="ok")


def build_application(
    config: Config, station: Station, requests: Sequence[AiohttpRequest] | None = None
) -> Application:
    """A PTB Application whose handlers serve `station`; no updater of its own (the inbox
    feeds it) and no rate limiter (the outbox's sender keeps Telegram's limits).
    `requests`: the Bot API connections (calls, getUpdates), made here if not given."""
    calls, polls = requests or bot_api_connections()
    app = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.base_url)
        .base_file_url(config.base_file_url)
        .request(calls)
        .get_updates_request(polls)
        .updater(None)
        .build()
    )
    app.bot_data[STATION_KEY] = station
    app.bot_data[DESK_KEY] = StaffDesk(station)
    if app.job_queue is not None:
        app.job_queue.run_repeating(purge, PURGE_INTERVAL_SECONDS, first=1, name="retention")
    # staff first: the resident handlers end with catch-alls (unknown commands, any button)
    staff.register(app)
    resident.register(app)
    app.add_error_handler(log_error)
    return app


def bot_api_connections() -> tuple[AiohttpRequest, AiohttpRequest]:
    """One connection pool for Bot API calls, one for long polling."""
    return AiohttpRequest(CONNECTIONS), AiohttpRequest(1, read_timeout=POLL_TIMEOUT + 10)


async def announce_commands(app: Application) -> None:
    """Sets the command menu in both languages (a failure only costs the menu); /station
    only where residents have a station to choose."""
    names = COMMANDS
    if several(app.bot_data[STATION_KEY].config.stations):
        names = (*COMMANDS, "station")
    try:
        for language in LANGUAGES:
            commands = [BotCommand(name, t(f"command.{name}", language)) for name in names]
            await app.bot.set_my_commands(commands, language_code=language)
        commands = [BotCommand(name, t(f"command.{name}", "zh")) for name in names]
        await app.bot.set_my_commands(commands)
    except TelegramError as error:
        log.warning("could not set the command menu: %s", error)


async def purge(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Retention, daily (see handlers.runtime.purge_once)."""
    await purge_once(context.application.bot_data[STATION_KEY])


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs an error raised while handling an update (secrets are redacted by the filter)."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s", update_id, exc_info=context.error)


# --- logging with secrets redacted ------------------------------------------------------------


class RedactSecrets(logging.Filter):
    """Replaces secrets (the bot token, webhook and app secrets) wherever they appear in a log
    record."""

    def __init__(self, secrets: Iterable[str | None]):
        super().__init__()
        found = {secret for secret in secrets if secret}
        # a token's secret half alone too (a URL may carry its colon encoded as %3A)
        found |= {half for s in found if len(half := s.partition(":")[2]) >= MIN_SECRET_CHARS}
        self.secrets = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[REDACTED]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            # the formatter reuses exc_text, so the traceback is redacted once here
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


def configure_logging(secrets: Iterable[str | None], level: int = logging.INFO) -> None:
    """Logs to stderr with every secret redacted; HTTP libraries speak only when debugging."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # apscheduler says every job run at INFO (the overlay watch: twice a minute)
    for noisy in ("httpx", "httpcore", "aiohttp.access", "apscheduler"):
        logging.getLogger(noisy).setLevel(
            logging.DEBUG if level <= logging.DEBUG else logging.WARNING
        )
    redact = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)


# --- stationbot run ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(
    config: Config,
    station: Station,
    *,
    poll: bool = True,
    extra: Sequence[Callable[[Runtime], Any]] = (),
) -> AsyncIterator[TelegramChannel]:
    """The Telegram channel started (polling unless `poll` is False) on a runtime of its own,
    with `extra` channels beside it (each built on the runtime, e.g. handlers.wechat.attach),
    sharing its dispatcher and courier; stopped on exit."""
    runtime = Runtime(config, station)
    channel = TelegramChannel(config, station, runtime, poll=poll)
    others = [build(runtime) for build in extra]
    try:
        await runtime.start([channel, *others])
        yield channel
    finally:
        await runtime.stop()


def main(args: argparse.Namespace) -> int:
    """`stationbot run` (see handlers/runtime.py: Telegram, WeChat or both)."""
    from handlers.runtime import main as run_main

    return run_main(args)
