"""One running process: the inbox's Dispatcher, the outbox's Courier and the web server,
shared by every channel (Telegram, WeChat), and `stationbot run`.

A channel plugs in with `Runtime.add(channel, handle, transport)` (its stored messages go to
`handle`, its outgoing ones to `transport`) and web routes on `Runtime.web`. The runtime
starts the shared parts after the channels and stops them before, so nothing is handled or
sent through a channel that is not running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import secrets
import signal
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web

from bot.config import Config, ConfigError, WebConfig, check_storage_path, load_config
from bot.core import Station, startup_error_line
from bot.inbox import LEASE_SECONDS, Dispatcher, Handle
from bot.messages import t
from bot.outbox import Courier, Transport
from bot.storage import StorageError
from faq.loader import FaqError

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0  # shared database: how often a worker says it is alive (and its backlog)

MAX_WEB_BODY = 1 << 20  # Telegram updates and WeChat messages are far smaller
# Retention: closed items older than retention.closed_items_days go once a day (and at start);
# handled inbox rows and delivered outbox rows after a week always.
PURGE_INTERVAL_SECONDS = 24 * 3600


class Part(Protocol):
    """A channel as the runtime drives it."""

    async def start(self) -> None: ...

    async def close_intake(self) -> None: ...

    async def stop(self) -> None: ...


class Runtime:
    """The Dispatcher, the Courier (every channel's transport) and the web server of one
    process."""

    def __init__(self, config: Config, station: Station) -> None:
        self.config = config
        self.station = station
        self.dispatcher = Dispatcher(station.storage, {})
        self.courier = Courier(
            station.storage,
            [],
            digest_title=lambda count: t("staffui.digest", config.staff_language, count=count),
        )
        # the web server at web.listen:web.port (WeChat, the staff console); other servers
        # (Telegram's webhook, maybe on a public port) are apps of their own: see serve_app
        self.web = web.Application(client_max_size=MAX_WEB_BODY)
        self.sites: list[tuple[str, int]] = []  # where self.web listens, if anywhere
        self._apps: list[tuple[web.Application, str, int]] = []
        self.parts: list[Part] = []
        self._runners: list[web.AppRunner] = []
        self._courier_task: asyncio.Task[None] | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._membership_task: asyncio.Task[None] | None = None
        self._workers = 1  # live workers on a shared database, as last heard

    @property
    def addresses(self) -> list[Any]:
        """Where the web servers listen (host and port each), once started."""
        return [address for runner in self._runners for address in runner.addresses]

    def add(self, channel: str, handle: Handle, transport: Transport) -> None:
        """Routes `channel`'s stored messages to `handle` and its outgoing ones to
        `transport`."""
        self.dispatcher.handlers[channel] = handle
        self.courier.transports[channel] = transport

    def listen(self, host: str, port: int) -> None:
        """Serves the web routes on host:port too (once per address)."""
        if (host, port) not in self.sites:
            self.sites.append((host, port))

    def serve_app(self, app: web.Application, host: str, port: int) -> None:
        """Serves another web application on its own address from start() to stop()."""
        self._apps.append((app, host, port))

    def keep_retention(self) -> None:
        """Purges old records daily (Telegram's job queue does it when Telegram runs)."""
        self._retention_task = asyncio.create_task(self._purge_daily())

    async def _purge_daily(self) -> None:
        while True:
            await purge_once(self.station)
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)

    async def start(self, parts: Sequence[Part] = ()) -> None:
        """Starts the channels, then the dispatcher (left-over messages first), the courier
        and the web server."""
        for part in parts:
            self.parts.append(part)  # stopped too if its start fails half way
            await part.start()
        if self.station.storage.shared:  # one of several workers on PostgreSQL
            await self._heartbeat()
            self._membership_task = asyncio.create_task(self._keep_membership())
        await self.dispatcher.start()
        self._courier_task = asyncio.create_task(self.courier.run())
        apps = [(self.web, host, port) for host, port in self.sites] + self._apps
        runners: dict[int, web.AppRunner] = {}
        for app, host, port in apps:
            runner = runners.get(id(app))
            if runner is None:
                runner = runners[id(app)] = web.AppRunner(app, access_log=None)
                self._runners.append(runner)
                await runner.setup()
            await web.TCPSite(runner, host, port).start()

    async def _heartbeat(self) -> None:
        """Tells the other workers this one is alive (renewing its leases) and how much it
        has to send (`SELECT * FROM workers` shows each worker's backlog)."""
        workers = len(await self.station.storage.heartbeat(LEASE_SECONDS, self.courier.backlog))
        if workers != self._workers:
            log.info("workers: %d alive", workers)
            self._workers = workers

    async def _keep_membership(self) -> None:
        """Heartbeats (renewing this worker's leases) every second, and
        takes over what dead workers held."""
        beats = 0
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            beats += 1
            try:
                await self._heartbeat()
                if beats % 5 == 0:
                    await self.dispatcher.sweep()
                    self.courier.wake()  # rows a dead worker held become claimable
            except StorageError as error:
                log.error("workers: %s", error)

    async def stop(self) -> None:
        """Takes nothing new, finishes what was taken, delivers what it can for a moment (the
        rest waits in the outbox for the next start), then stops the channels."""
        for runner in self._runners:
            await runner.cleanup()
        if self._retention_task is not None:
            self._retention_task.cancel()
        for part in self.parts:
            await part.close_intake()
        await self.dispatcher.join()
        if self._courier_task is not None:
            await self.courier.drain(timeout=3)
            await self.courier.stop()
            self._courier_task.cancel()
            await asyncio.gather(self._courier_task, return_exceptions=True)
        if self._membership_task is not None:
            self._membership_task.cancel()
            await asyncio.gather(self._membership_task, return_exceptions=True)
            with contextlib.suppress(StorageError):
                await self.station.storage.leave()
        for part in reversed(self.parts):
            await part.stop()


def build(config: Config, station: Station, *, poll: bool = True) -> tuple[Runtime, list[Part]]:
    """A runtime with every configured channel: Telegram when there is a token (polling
    unless `poll` is False), WeChat when there is a wechat section."""
    runtime = Runtime(config, station)
    parts: list[Part] = []
    if config.token:
        from handlers.telegram import TelegramChannel

        parts.append(TelegramChannel(config, station, runtime, poll=poll))
    if config.wechat is not None:
        from handlers.wechat import attach

        parts.append(attach(runtime))
    if config.web is not None:  # the staff console, on the same web server as WeChat
        from bot.staff import StaffDesk
        from handlers.staff_web import register

        desk = StaffDesk(station)
        register(runtime.web, lambda: desk, web_config=config.web)
        runtime.listen(config.web.listen, config.web.port)
    if not config.token:
        runtime.keep_retention()
    return runtime, parts


async def purge_once(station: Station) -> None:
    """Retention: finished items older than the configured days; handled messages always."""
    days = station.config.retention_days
    try:
        removed = await station.storage.purge_closed_older_than(days if days else 10**5)
    except StorageError as error:
        log.error("retention: %s", error)
        return
    if any(removed.values()):
        counts = ", ".join(f"{table} {count}" for table, count in removed.items() if count)
        log.info("retention: removed %s", counts)


async def serve(config: Config, station: Station, stop: asyncio.Event) -> None:
    """Runs until `stop` is set (also while a channel is still starting: Telegram
    unreachable); a rejected Telegram token (InvalidToken) is raised once all is stopped."""
    runtime, parts = build(config, station, poll=config.webhook is None)
    starting = asyncio.create_task(runtime.start(parts))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # stopped while starting
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await runtime.stop()
        return
    stopping.cancel()
    if starting.exception() is not None:
        await runtime.stop()
        raise starting.exception()
    try:
        ways = []
        if config.token:
            ways.append(f"Telegram {'webhook' if config.webhook else 'long polling'}")
        if config.wechat is not None:
            site = config.web or WebConfig()
            ways.append(f"WeChat at {site.listen}:{site.port}{config.wechat.path}")
        if config.web is not None:
            ways.append(f"staff console at http://{config.web.listen}:{config.web.port}/")
        if len(config.stations) > 1:
            ways.append(f"stations {', '.join(site.id for site in config.stations)}")
        log.info(
            "Station Helper: %d FAQ entries, database %s, %s",
            len(station.kb.entries),
            config.database_shown,
            ", ".join(ways),
        )
        for part in runtime.parts:
            announce = getattr(part, "announce", None)
            if announce is not None:
                await announce()
        await stop.wait()
    finally:
        await runtime.stop()


def main(args: argparse.Namespace) -> int:
    """`stationbot run`: a bad config, token or database is one line and exit 2."""
    from handlers.telegram import configure_logging

    try:
        config = load_config(args.config, require_token=True)
        check_storage_path(config)
    except ConfigError as error:
        print(startup_error_line(error), file=sys.stderr)
        return 2
    if config.webhook is not None and not config.webhook.secret_token:
        # Telegram then proves each POST with this header; nobody else knows it
        config.webhook = dataclasses.replace(config.webhook, secret_token=secrets.token_urlsafe(32))
    webhook = config.webhook
    level = getattr(logging, getattr(args, "log_level", None) or "INFO")
    wechat_secrets = config.wechat.secrets if config.wechat else ()
    configure_logging(
        [config.token, webhook.secret_token if webhook else None, *wechat_secrets], level
    )
    return asyncio.run(_run(config))


async def _run(config: Config) -> int:
    from telegram.error import InvalidToken

    # first of all: a SIGTERM during start-up then stops the bot cleanly once it is up
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        station = await Station.create(config)
    except (StorageError, FaqError) as error:
        print(startup_error_line(error), file=sys.stderr)
        return 2
    try:
        await serve(config, station, stop)
    except InvalidToken:
        print(
            f"stationbot: Telegram rejected the bot token ({config.token_source})", file=sys.stderr
        )
        return 2
    except OSError as error:  # the web server's port is taken, or not ours to bind
        print(f"stationbot: cannot serve the web server: {error}", file=sys.stderr)
        return 2
    finally:
        await station.close()
    return 0
