"""The WeChat channel (公众号): signed POSTs in through the inbox, answered in the same HTTP
request when the core decides in time (a passive reply), everything else out through the
customer-service API (客服消息) by the outbox's courier; and `stationbot wechat menu`.

WeChat has no buttons: a message's buttons (or topic keyboard) are rendered as a numbered
list, kept per resident in SQLite, and a reply with a number presses that button. Commands
are words (我的问题, 许愿 ..., 删除我的记录, English). Everything goes through Station's
methods, so flood control and text cleaning apply as on every other channel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
import time
import unicodedata
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.config import Config, ConfigError, WebConfig, load_config
from bot.core import Sender, Station, callback
from bot.messages import t
from bot.outbox import Limit, Outgoing, Refused, Retry
from bot.staff import STAFF_PREFIX
from bot.storage import InboxRow, StorageError, Tx
from bot.text import split_text
from bot.topics import TOPICS
from faq.normalize import detect_language
from handlers.runtime import Runtime
from handlers.wechat_api import WeChatApi, WeChatRefused, WeChatSetupError, WeChatTransient
from handlers.wechat_protocol import (
    MAX_BODY_BYTES,
    SafeMode,
    WeChatMessage,
    WeChatProtocolError,
    check_url_query,
    dedup_key,
    open_request,
    passive_reply,
    timestamp_is_fresh,
)

log = logging.getLogger(__name__)

CHANNEL = "wechat"
# WeChat waits 5 s for the HTTP answer: what the core has not decided by then goes by the
# customer-service API instead (the answer is then "success", i.e. nothing).
PASSIVE_WAIT_SECONDS = 4.0
# A reply waits this long before the courier may send it by the API, so that it cannot
# race the passive reply that normally takes it first.
REPLY_HOLD_SECONDS = 6.0
MAX_TEXT = 600  # characters per message: well under WeChat's 2048 bytes in UTF-8
# Customer-service messages: WeChat's quotas are generous per day; a resident's window
# allows a limited number, so a burst to one resident is spread out.
GLOBAL_LIMIT = Limit(CHANNEL, 100, 1.0)
PER_RESIDENT = (5, 10.0)
# Events worth a reply; LOCATION reports (every few seconds when enabled), VIEW (a menu link
# opened), unsubscribe and the rest are answered "success" and not stored.
HANDLED_EVENTS = frozenset({"subscribe", "CLICK"})

# Typed words that stand for Telegram's commands (compared without punctuation, casefolded).
MINE_WORDS = frozenset({"我的问题", "我的心愿", "我的问题和心愿", "my questions", "mine", "/mine"})
FORGET_WORDS = frozenset({"删除我的记录", "删除我的信息", "delete my data", "/forget"})
HELP_WORDS = frozenset({"帮助", "怎么用", "help", "/help"})
START_WORDS = frozenset({"你好", "您好", "hello", "hi", "/start"})
LANGUAGE_WORDS: dict[str, str | None] = {
    "语言": None,
    "换语言": None,
    "language": None,
    "/language": None,
    "english": "en",
    "英文": "en",
    "中文": "zh",
}
WISH_PREFIXES = ("许个心愿", "许个愿", "许愿", "/wish", "wish")  # longest first
_PUNCTUATION = " 。.!！~～?？,，:：;；"

# Menu button keys (come back as CLICK EventKey): topic message keys open the topic.
MENU_COMMANDS = {"cmd:mine", "cmd:help", "cmd:language", "cmd:forget"}
MENU_ASK_TOPICS = tuple(key for key in TOPICS if key != "topic.wish")
FIELDS = tuple(field.name for field in dataclasses.fields(WeChatMessage))  # stored in the inbox


# --- rendering: buttons as numbered choices ------------------------------------------------


def render(message: Outgoing) -> tuple[list[str], list[dict[str, str]]]:
    """The message as WeChat texts (buttons as a numbered list at the end) and the choices
    the numbers stand for ({"data": callback data} or {"text": a topic label})."""
    choices: list[dict[str, str]] = []
    lines: list[str] = []
    rows = message.buttons or [[label] for row in (message.keyboard or []) for label in row]
    for row in rows:
        parts = []
        for button in row:
            if isinstance(button, str):
                choices.append({"text": button})
                label = button
            else:
                choices.append({"data": button.data})
                label = button.label
            parts.append(f"{len(choices)}. {label}")
        lines.append("    ".join(parts))
    text = message.text
    if choices:
        language = detect_language(message.text) if message.text else "zh"
        count = len(choices)
        separator = "、" if language == "zh" else ", "
        numbers = (
            separator.join(str(n) for n in range(1, count + 1)) if count <= 4 else f"1–{count}"
        )
        hint = t("wechat.choices", language, numbers=numbers)
        text = "\n".join([text, "", hint, *lines]) if text else "\n".join([hint, *lines])
    return split_text(text, MAX_TEXT), choices


# --- out: the transport the courier uses -----------------------------------------------------


class WeChatTransport:
    """Sends an Outgoing as customer-service texts; maps WeChat's refusals to Retry/Refused."""

    channel = CHANNEL

    def __init__(self, api: WeChatApi, station: Station, *, limited: bool = True) -> None:
        self.api = api
        self.station = station
        self.limited = limited

    def limits(self, message: Outgoing) -> Sequence[Limit]:
        if not self.limited or message.kind == "retire":
            return []
        count, seconds = PER_RESIDENT
        return [GLOBAL_LIMIT, Limit(f"{CHANNEL}:{message.address}", count, seconds)]

    async def send(self, message: Outgoing) -> int | None:
        if message.kind == "retire":  # WeChat messages cannot be edited: nothing to do
            return None
        if message.kind == "document":
            raise Refused("WeChat residents are not sent files")
        texts, choices = render(message)
        try:
            for text in texts:
                await self.api.send_text(message.address, text)
        except WeChatSetupError as error:  # no token for anyone until an operator acts
            raise Retry(str(error), error.retry_after, whole_channel=True) from None
        except WeChatTransient as error:
            raise Retry(str(error), error.retry_after) from None
        except WeChatRefused as error:
            if error.window_closed:
                raise Refused(f"the resident's 48-hour window has closed ({error})") from None
            raise Refused(str(error)) from None
        await remember_choices(self.station, message.address, choices)
        return None


async def remember_choices(station: Station, openid: str, choices: list[dict[str, str]]) -> None:
    """Keeps the numbered choices just shown (a message without any leaves the last ones)."""
    if not choices:
        return
    try:
        await station.storage.set_choices(f"{CHANNEL}:{openid}", json.dumps(choices))
    except StorageError as error:  # the message went out; only a number reply is lost
        log.warning("wechat: %s", error)


# --- the channel ---------------------------------------------------------------------------


class WeChatChannel:
    """The running WeChat side on a Runtime: the web routes (see register), the dispatcher's
    handler for channel "wechat" and the customer-service transport."""

    def __init__(
        self,
        config: Config,
        station: Station,
        runtime: Runtime,
        *,
        api: WeChatApi | None = None,
        limited: bool = True,
    ) -> None:
        if config.wechat is None:
            raise ConfigError("no wechat section in the configuration")
        settings = config.wechat
        self.settings = settings
        self.station = station
        self.runtime = runtime
        self.safe_mode = (
            SafeMode.from_settings(settings.token, settings.encoding_aes_key, settings.app_id)
            if settings.encoding_aes_key
            else None
        )
        self.api = api or WeChatApi(
            settings.app_id, settings.app_secret, base_url=settings.api_base_url
        )
        self.transport = WeChatTransport(self.api, station, limited=limited)
        runtime.add(CHANNEL, self.handle, self.transport)
        station.hold_replies(CHANNEL, REPLY_HOLD_SECONDS)

    def __repr__(self) -> str:
        return f"WeChatChannel(app_id={self.settings.app_id!r})"

    async def start(self) -> None:
        await self.api.start()

    async def close_intake(self) -> None:
        """Nothing to stop: the runtime's web server, which takes WeChat's POSTs, is down."""

    async def stop(self) -> None:
        await self.api.close()

    # --- in: the web routes ---------------------------------------------------------------

    async def url_check(self, request: web.Request) -> web.Response:
        """GET: WeChat checks the server URL; echostr back when the signature is ours."""
        try:
            echostr = check_url_query(self.settings.token, request.query)
        except WeChatProtocolError as error:
            log.warning("wechat: refused a URL check: %s", error)
            return web.Response(status=403, text="forbidden")
        return web.Response(text=echostr)

    async def receive(self, request: web.Request) -> web.Response:
        """POST: a message, stored once (a retry finds it), answered in this request with the
        core's reply when it comes within PASSIVE_WAIT_SECONDS."""
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return web.Response(status=413, text="too large")
        body = await request.read()
        try:
            message = open_request(self.settings.token, request.query, body, self.safe_mode)
        except WeChatProtocolError as error:
            log.warning("wechat: refused a POST: %s", error)
            return web.Response(status=403, text="forbidden")
        if not timestamp_is_fresh(request.query.get("timestamp", ""), time.time()):
            log.warning("wechat: refused a POST with a stale timestamp (a replay?)")
            return web.Response(status=403, text="forbidden")
        if message.msg_type == "event" and message.event not in HANDLED_EVENTS:
            return web.Response(text="success")
        key = dedup_key(message)
        stored = (
            CHANNEL,
            key,
            f"{CHANNEL}:{message.from_user}",
            json.dumps({name: getattr(message, name) for name in FIELDS}, ensure_ascii=False),
        )
        try:
            fresh = await self.station.storage.receive([stored])
            if fresh:
                inbox_id, pending = fresh[0].id, True
                self.runtime.dispatcher.submit(fresh)
            else:  # WeChat's retry of a message already stored
                found = await self.station.storage.inbox_row(CHANNEL, key)
                if found is None:
                    return web.Response(text="success")
                inbox_id, pending = found[0], found[1] == "pending"
        except StorageError as error:
            log.error("wechat: %s", error)
            return web.Response(status=503, text="try again")  # WeChat tries again
        if pending:
            handled = self.runtime.dispatcher.handled(inbox_id)
            # shielded: a retry waiting on the same message must not be cancelled; on timeout,
            # whatever the core queues later goes by the customer-service API
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(handled), PASSIVE_WAIT_SECONDS)
        text = await self._take_passive(inbox_id, message.from_user)
        if text is None:
            return web.Response(text="success")
        nonce = request.query.get("nonce", "")
        reply = passive_reply(message, text, int(time.time()), self.safe_mode, nonce)
        return web.Response(text=reply, content_type="application/xml")

    async def _take_passive(self, inbox_id: int, openid: str) -> str | None:
        """The first text the core queued for this message, now answered in the request (the
        rest of a long one queued for the API, its choices remembered); None when there is
        nothing to answer with."""

        async def unit(tx: Tx) -> tuple[str, int] | None:
            taken = await tx.take_passive(inbox_id, CHANNEL)
            if taken is None:
                return None
            row, first_time = taken
            texts, choices = render(Outgoing.from_json(row.payload))
            if first_time:
                for rest in texts[1:]:
                    follow = Outgoing(CHANNEL, row.address, rest)
                    await tx.queue(CHANNEL, row.address, follow.kind, follow.to_json())
                if choices:
                    await tx.set_choices(f"{CHANNEL}:{openid}", json.dumps(choices))
            return texts[0], row.id

        try:
            taken = await self.station.storage.transact("answer in the request", unit)
        except StorageError as error:  # the courier sends it by the API instead
            log.error("wechat: %s", error)
            return None
        if taken is None:
            return None
        text, row_id = taken
        self.runtime.courier.withdraw(CHANNEL, openid, row_id)  # the courier may have read it
        return text

    # --- the dispatcher's handler: one stored message --------------------------------------

    async def handle(self, row: InboxRow) -> None:
        """Hands one stored WeChat message to the core."""
        message = WeChatMessage(**json.loads(row.payload))
        sender = Sender(
            user_id=message.from_user, chat_id=message.from_user, channel=CHANNEL, private=True
        )
        station = self.station
        if message.msg_type == "event":
            await self._event(sender, message)
        elif message.msg_type == "location" and message.latitude is not None:
            await station.on_location(sender, message.latitude, message.longitude or 0.0)
        elif message.text is not None:
            await self._text(sender, message.text)
        elif message.msg_type == "voice":
            await station.on_unheard(sender)
        else:
            await station.on_unsupported(sender)

    async def _event(self, sender: Sender, message: WeChatMessage) -> None:
        """Subscribing greets; a menu click opens its topic or runs its command."""
        if message.event == "subscribe":
            await self.station.on_start(sender)
        elif message.event == "CLICK":
            await self._menu_click(sender, message.event_key or "")

    async def _menu_click(self, sender: Sender, key: str) -> None:
        station = self.station
        if key in TOPICS:
            await station.on_text(sender, t(key, "zh"))
        elif key.startswith("ans:"):
            await station.on_callback(sender, callback("ans", key.removeprefix("ans:")))
        elif key == "cmd:mine":
            await station.on_mine(sender)
        elif key == "cmd:language":
            await station.on_language(sender)
        elif key == "cmd:forget":
            await station.on_forget(sender)
        else:
            await station.on_help(sender)

    async def _text(self, sender: Sender, text: str) -> None:
        """A number presses the last choices shown; command words run the command; any other
        text is a question (or the wish being asked for)."""
        station = self.station
        choice = await self._choice(sender, text)
        if choice is not None:
            if "text" in choice:
                await station.on_text(sender, choice["text"])
            elif choice["data"].startswith(f"{STAFF_PREFIX}:thx:"):
                await station.on_thanks(sender, choice["data"].split(":")[2])
            else:
                await station.on_callback(sender, choice["data"])
            return
        word = plain(text)
        if word in MINE_WORDS:
            await station.on_mine(sender)
        elif word in FORGET_WORDS:
            await station.on_forget(sender)
        elif word in HELP_WORDS:
            await station.on_help(sender)
        elif word in START_WORDS:
            await station.on_start(sender)
        elif word in LANGUAGE_WORDS:
            await station.on_language(sender, LANGUAGE_WORDS[word])
        elif (wish := wish_text(text)) is not None:
            await station.on_wish(sender, wish)
        else:
            await station.on_text(sender, text)

    async def _choice(self, sender: Sender, text: str) -> dict[str, str] | None:
        """The choice a number reply picks from the last numbered list, else None."""
        number = unicodedata.normalize("NFKC", text).strip(_PUNCTUATION)
        if not number.isdecimal() or len(number) > 2:
            return None
        try:
            stored = await self.station.storage.choices(f"{CHANNEL}:{sender.user_id}")
        except StorageError as error:
            log.warning("wechat: %s", error)
            return None
        choices = json.loads(stored) if stored else []
        index = int(number) - 1
        return choices[index] if 0 <= index < len(choices) else None


def plain(text: str) -> str:
    """Text as compared with command words: full-width folded, no punctuation, casefolded."""
    return unicodedata.normalize("NFKC", text).strip(_PUNCTUATION).casefold()


def wish_text(text: str) -> str | None:
    """The wish after a 许愿 / wish keyword ("" for the keyword alone), else None."""
    folded = unicodedata.normalize("NFKC", text).strip()
    lowered = folded.casefold()
    for prefix in WISH_PREFIXES:
        if not lowered.startswith(prefix):
            continue
        rest = folded[len(prefix) :]
        if prefix.isascii() and rest and rest[0] not in " :：，,":  # "wishes", "wishful"
            return None
        return rest.strip(_PUNCTUATION)
    return None


def register(app: web.Application, channel: WeChatChannel) -> None:
    """Adds WeChat's routes (the URL check and the messages) at the configured path."""
    app.router.add_get(channel.settings.path, channel.url_check)
    app.router.add_post(channel.settings.path, channel.receive)


def attach(runtime: Runtime) -> WeChatChannel:
    """The WeChat channel on `runtime`, its routes on the runtime's web server, which then
    listens on web.listen:web.port (the defaults without a web section)."""
    channel = WeChatChannel(runtime.config, runtime.station, runtime)
    register(runtime.web, channel)
    site = runtime.config.web or WebConfig()  # the staff console's address, or its default
    runtime.listen(site.listen, site.port)
    return channel


# --- the menu --------------------------------------------------------------------------------


def menu(language: str = "zh") -> list[dict[str, Any]]:
    """The account's menu: the topics, the resident's own items, and the rest."""

    def click(label_key: str, key: str) -> dict[str, str]:
        return {"type": "click", "name": t(label_key, language), "key": key}

    return [
        {
            "name": t("wechat.menu.ask", language),
            "sub_button": [click(key, key) for key in MENU_ASK_TOPICS],
        },
        {
            "name": t("wechat.menu.mine", language),
            "sub_button": [click("topic.wish", "topic.wish"), click("command.mine", "cmd:mine")],
        },
        {
            "name": t("wechat.menu.more", language),
            "sub_button": [
                click("command.help", "cmd:help"),
                click("command.language", "cmd:language"),
                click("command.forget", "cmd:forget"),
            ],
        },
    ]


def publish_menu(args: argparse.Namespace) -> int:
    """`stationbot wechat menu`: publishes the menu (or prints it with --print)."""
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"stationbot: {error}", file=sys.stderr)
        return 2
    buttons = menu()
    if getattr(args, "print", False):
        print(json.dumps({"button": buttons}, ensure_ascii=False, indent=2))
        return 0
    settings = config.wechat
    if settings is None:
        print("stationbot: no wechat section in the configuration", file=sys.stderr)
        return 2

    async def create() -> None:
        async with WeChatApi(
            settings.app_id, settings.app_secret, base_url=settings.api_base_url
        ) as api:
            await api.create_menu(buttons)

    try:
        asyncio.run(create())
    except (WeChatTransient, WeChatRefused) as error:  # their texts carry no secret
        print(f"stationbot: the menu was not published: {error}", file=sys.stderr)
        return 1
    print(f"published the menu: {len(buttons)} buttons")
    return 0
