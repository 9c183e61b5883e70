"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the real Application.

It serves queued updates through getUpdates (a short long-poll), answers the send/edit methods
the bot uses, records every call, and can make the next calls fail: a 429 with retry_after, a
500 or 502, a slow answer, or a connection dropped without an answer (nothing delivered).
Built on tornado, which python-telegram-bot's webhooks extra already installs.
`python tests/fake_telegram.py` runs it on its own (see serve()), for a bot in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import math
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.web
import yaml
from tornado.httputil import parse_body_arguments

from bot.config import Config, load_config
from bot.core import Station
from handlers.telegram import running

TOKEN = "123456:TEST-token-never-logged"
BOT = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Station Helper",
    "username": "station_helper_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MAX_POLL_SECONDS = 1.0  # long-poll at most this long, whatever timeout the bot asks for
JSON_FIELDS = ("reply_markup", "reply_parameters", "commands", "entities")
ERRORS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class Call:
    """One Bot API request the bot made."""

    method: str
    params: dict[str, Any]
    seq: int  # order of events on the server: calls, and updates being served
    ok: bool = False  # answered successfully (not a planned failure)
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    def inline_buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button sent with this call."""
        markup = self.params.get("reply_markup") or {}
        return [
            (button["text"], button.get("callback_data", ""))
            for row in markup.get("inline_keyboard", [])
            for button in row
        ]

    def keyboard(self) -> list[str]:
        """Labels of the reply keyboard (big topic buttons) sent with this call."""
        markup = self.params.get("reply_markup") or {}
        return [
            button if isinstance(button, str) else button["text"]
            for row in markup.get("keyboard", [])
            for button in row
        ]


@dataclass
class Failure:
    """A planned fault: an HTTP error `status`, "drop" (close without answering) or "slow"."""

    status: int | str
    retry_after: int | None = None
    delay: float = 0.0  # "slow": seconds before the normal answer


class Dropped(Exception):
    """The server closes the connection without answering (the call is not carried out)."""


@dataclass
class FakeTelegram:
    """The fake server's state: queued updates, recorded calls, planned failures."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    chat_types: dict[int, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # every update served
    served_at: dict[int, int] = field(default_factory=dict)  # update_id -> seq when first served
    port: int = 0
    # Telegram's limits, answered with 429 and retry_after when exceeded (production profile)
    enforce_limits: bool = False
    group_per_minute: int = 20
    global_per_second: int = 30
    _recent: dict[Any, deque] = field(default_factory=dict)
    _seq: itertools.count = field(default_factory=itertools.count)
    _next_update_id: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _next_message_id: itertools.count = field(default_factory=lambda: itertools.count(1))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: tornado.httpserver.HTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # --- server lifecycle ---

    def start(self) -> None:
        app = tornado.web.Application([(r"/bot([^/]+)/(\w+)", ApiHandler, {"fake": self})])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets([sock])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()

    # --- injecting updates ---

    def push(self, payload: dict[str, Any], update_id: int | None = None) -> int:
        """Queues an update (payload: {"message": ...} etc.); returns its update_id."""
        update_id = next(self._next_update_id) if update_id is None else update_id
        self.updates.append({"update_id": update_id, **payload})
        self._arrived.set()
        return update_id

    def redeliver(self, update_id: int) -> None:
        """Serves an update again, as Telegram does when the bot crashed before confirming it."""
        update = next(u for u in self.history if u["update_id"] == update_id)
        self.updates.append({**update, "_force": True})
        self._arrived.set()

    def message(
        self,
        text: str | None = None,
        *,
        user_id: int = 42,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str | None = "zh-hans",
        entities: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> int:
        """Queues a message from a resident; returns its update_id."""
        chat_id = user_id if chat_id is None else chat_id
        self.chat_types[chat_id] = chat_type
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Resident"
        else:
            chat["title"] = "Neighbourhood group"
        message: dict[str, Any] = {
            "message_id": next(self._next_message_id),
            "date": int(time.time()),
            "chat": chat,
            "from": user(user_id, language_code),
            **extra,
        }
        if text is not None:
            message["text"] = text
        if entities:
            message["entities"] = entities
        return self.push({"message": message})

    def command(self, command: str, args: str = "", **options: Any) -> int:
        """Queues "/command args"."""
        text = f"/{command} {args}".strip()
        entity = {"type": "bot_command", "offset": 0, "length": len(command) + 1}
        return self.message(text, entities=[entity], **options)

    def mention(self, text: str, **options: Any) -> int:
        """Queues a group message "@bot text"."""
        name = f"@{BOT['username']}"
        entity = {"type": "mention", "offset": 0, "length": len(name)}
        options.setdefault("chat_type", "supergroup")
        options.setdefault("chat_id", -100123)
        return self.message(f"{name} {text}", entities=[entity], **options)

    def sticker(self, **options: Any) -> int:
        sticker = {
            "file_id": "sticker-file",
            "file_unique_id": "sticker-unique",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self.message(sticker=sticker, **options)

    def location(self, latitude: float, longitude: float, **options: Any) -> int:
        return self.message(location={"latitude": latitude, "longitude": longitude}, **options)

    def press(self, data: str, *, user_id: int = 42, chat_id: int | None = None) -> int:
        """Queues a press on an inline button carrying `data`."""
        chat_id = user_id if chat_id is None else chat_id
        chat_type = self.chat_types.get(chat_id, "private")
        return self.push(
            {
                "callback_query": {
                    "id": f"cq{next(self._next_message_id)}",
                    "from": user(user_id, "zh-hans"),
                    "chat_instance": "chat-instance",
                    "data": data,
                    "message": {
                        "message_id": next(self._next_message_id),
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": chat_type},
                        "from": BOT,
                        "text": "buttons",
                    },
                }
            }
        )

    # --- failures ---

    def fail_next(self, method: str, count: int = 1, *, status: int = 429, retry_after: int = 1):
        """Makes the next `count` calls of `method` fail with `status` (429: with retry_after)."""
        planned = self.failures.setdefault(method, [])
        planned.extend(
            Failure(status, retry_after if status == 429 else None) for _ in range(count)
        )

    def drop_next(self, method: str, count: int = 1) -> None:
        """Makes the next `count` calls of `method` end in a closed connection, undelivered."""
        self.failures.setdefault(method, []).extend(Failure("drop") for _ in range(count))

    def slow_next(self, method: str, count: int = 1, *, seconds: float = 1.0) -> None:
        """Makes the next `count` calls of `method` answer normally, but `seconds` late."""
        planned = self.failures.setdefault(method, [])
        planned.extend(Failure("slow", delay=seconds) for _ in range(count))

    # --- reading what the bot did ---

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Every sendMessage that succeeded, optionally only to one chat."""
        return [
            c
            for c in self.calls
            if c.method == "sendMessage" and c.ok and (chat_id is None or c.chat_id == chat_id)
        ]

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self, condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Polls until condition() is truthy; returns its value or fails the test."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                methods = [(c.method, c.text[:40]) for c in self.calls[-10:]]
                raise AssertionError(f"timed out waiting for {what}; last calls: {methods}")
            await asyncio.sleep(0.02)

    async def replies(self, update_id: int, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Waits for the first `count` messages the bot sent after update `update_id` was served."""

        def ready() -> list[Call] | None:
            served = self.served_at.get(update_id)
            after = [c for c in self.sent() if served is not None and c.seq > served]
            return after[:count] if len(after) >= count else None

        return await self.wait_for(ready, timeout, f"{count} replies to update {update_id}")

    async def settle(self, quiet: float = 0.3) -> None:
        """Waits until every queued update is served and the bot made no call for `quiet` s."""
        await self.wait_for(lambda: not self.updates, what="all updates served")
        count = -1
        while count != len(self.calls):
            count = len(self.calls)
            await asyncio.sleep(quiet)

    # --- the API ---

    async def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        call = Call(method, params, next(self._seq))
        self.calls.append(call)
        planned = self.failures.get(method)
        failure = planned.pop(0) if planned else None
        if failure is not None and failure.status == "drop":
            raise Dropped(method)
        if failure is not None and failure.status == "slow":
            await asyncio.sleep(failure.delay)
        elif failure is not None:
            status = int(failure.status)
            body: dict[str, Any] = {"ok": False, "error_code": status}
            if failure.retry_after is not None:
                body["description"] = f"Too Many Requests: retry after {failure.retry_after}"
                body["parameters"] = {"retry_after": failure.retry_after}
            else:
                body["description"] = ERRORS.get(status, "Internal Server Error")
            return status, body
        if self.enforce_limits and method in ("sendMessage", "sendDocument"):
            wait = self._over_limit(int(params.get("chat_id") or 0))
            if wait:
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {wait}",
                    "parameters": {"retry_after": wait},
                }
        call.ok = True
        if method == "getUpdates":
            result: Any = await self._get_updates(call)
        elif method == "getMe":
            result = BOT
        elif method in (
            "sendMessage",
            "sendDocument",
            "editMessageText",
            "editMessageReplyMarkup",
        ):
            result = self._message_result(params)
        elif method in (
            "answerCallbackQuery",
            "deleteWebhook",
            "setMyCommands",
            "sendChatAction",
            "setWebhook",
        ):
            result = True
        else:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method"}
        return 200, {"ok": True, "result": result}

    def _over_limit(self, chat_id: int) -> int:
        """Seconds to wait (0: within limits), recording the message when it may go."""
        now = time.monotonic()
        windows = [("all", self.global_per_second, 1.0)]
        if chat_id < 0:
            windows.append((chat_id, self.group_per_minute, 60.0))
        for key, count, seconds in windows:
            times = self._recent.setdefault(key, deque())
            while times and now - times[0] >= seconds:
                times.popleft()
            if len(times) >= count:
                return max(1, math.ceil(times[0] + seconds - now))
        for key, _, _ in windows:
            self._recent[key].append(now)
        return 0

    async def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        offset = int(call.params.get("offset") or 0)
        # as on Telegram, an update asked for with a higher offset is confirmed and gone for
        # good; one not yet confirmed is served again (to a bot restarted after a crash)
        self.updates = [u for u in self.updates if u.get("_force") or u["update_id"] >= offset]
        timeout = min(float(call.params.get("timeout") or 0), MAX_POLL_SECONDS)
        if not self.updates and timeout > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
        batch = self.updates[: int(call.params.get("limit") or 100)]
        served = [{k: v for k, v in u.items() if k != "_force"} for u in batch]
        forced = {id(u) for u in batch if u.get("_force")}  # a redelivered copy goes once
        self.updates = [u for u in self.updates if id(u) not in forced]
        self.history.extend(served)
        now = next(self._seq)  # replies to these updates come after this moment
        for update in served:
            self.served_at.setdefault(update["update_id"], now)
        return served

    def _message_result(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params.get("chat_id") or 0)
        return {
            "message_id": int(params.get("message_id") or next(self._next_message_id)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": self.chat_types.get(chat_id, "private")},
            "from": BOT,
            "text": params.get("text", ""),
        }


def user(user_id: int, language_code: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"Resident{user_id}"}
    if language_code:
        data["language_code"] = language_code
    return data


class ApiHandler(tornado.web.RequestHandler):
    """POST /bot<token>/<method>: decodes PTB's form fields and asks the FakeTelegram."""

    def initialize(self, fake: FakeTelegram) -> None:
        self.fake = fake

    async def post(self, token: str, method: str) -> None:
        if token != TOKEN:
            self.set_status(401)
            self.finish({"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, Any] = {}
        content_type = self.request.headers.get("Content-Type", "")
        params: dict[str, Any] = {}
        if content_type.startswith("application/json"):  # as the Bot API also takes them
            params = {k: v for k, v in json.loads(self.request.body or b"{}").items()}
        else:
            parse_body_arguments(content_type, self.request.body, arguments, files)
        for name, values in arguments.items():
            value = values[0].decode()
            if name in JSON_FIELDS:
                value = json.loads(value)
            params[name] = value
        if files:
            params["_files"] = sorted(files)
        try:
            status, body = await self.fake.handle(method, params)
        except Dropped:
            self.request.connection.close()
            self._finished = True  # nothing more to send on a closed connection
            return
        self.set_status(status)
        self.finish(body)

    get = post


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path, clock: Callable[[], float] | None = None, **overrides: Any
) -> AsyncIterator[tuple[FakeTelegram, Station]]:
    """The real Application polling a FakeTelegram, with storage in tmp_path.

    `overrides` replace Config fields (e.g. flood_max_messages=5).
    """
    fake = FakeTelegram()
    fake.start()
    config = dataclasses.replace(
        test_config(tmp_path),
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        **overrides,
    )
    station = await Station.create(config, clock=clock or time.monotonic)
    try:
        async with running(config, station) as channel:
            station.channel = channel  # tests reach the courier and dispatcher through it
            yield fake, station
    finally:
        await station.close()
        await fake.stop()


class BotProcess:
    """`stationbot run` as a real subprocess polling a fake server; its log goes to a file.

    `settings` are merged into the config file's sections, e.g. {"telegram": {"rate_limiter":
    False}}; `args` are extra command-line arguments for `run`, `env` extra variables.
    """

    def __init__(
        self,
        tmp_path: Path,
        fake: FakeTelegram,
        settings: dict[str, dict[str, Any]] | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.env = env or {}
        self.config_path = tmp_path / "config.yaml"
        self.log_path = tmp_path / "bot.log"
        self.args = args
        self.process: asyncio.subprocess.Process | None = None
        config: dict[str, dict[str, Any]] = {
            "telegram": {"token": TOKEN, "base_url": fake.base_url},
            "storage": {"path": str(tmp_path / "station.db")},
        }
        for section, values in (settings or {}).items():
            config.setdefault(section, {}).update(values)
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONBOT_")}
        env.update(self.env)
        with self.log_path.open("ab") as log:  # a file, not a pipe: a chatty bot never blocks
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "handlers.cli",
                "run",
                "--config",
                str(self.config_path),
                *self.args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=self.tmp_path,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        assert self.process is not None
        self.process.kill()

    async def stop(self, timeout: float = 30) -> int:
        """SIGTERM (a clean stop), then the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)


def test_config(tmp_path: Path) -> Config:
    """A config file in tmp_path (token, storage there), loaded the way `stationbot run` does."""
    path = tmp_path / "config.yaml"
    path.write_text(
        f'telegram:\n  token: "{TOKEN}"\nstorage:\n  path: "{tmp_path / "station.db"}"\n',
        encoding="utf-8",
    )
    return load_config(str(path), require_token=True)


test_config.__test__ = False  # a helper, not a test
