"""`stationbot run`: wires the Station, the resident and staff handlers into a PTB Application.

Only composition lives here; handlers/ holds the handlers, bot/core.py the decisions.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterable

from telegram import BotCommand, Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes

from bot.cli import fail
from bot.config import Config, ConfigError, check_storage_path, load_config
from bot.core import Station, startup_error_line
from bot.delivery import AiohttpRequest, InOrderPerResident, PollWhenHandled, Resend
from bot.messages import LANGUAGES, t
from bot.storage import StorageError
from faq.loader import FaqError
from handlers import resident, staff
from handlers.context import STATION_KEY

log = logging.getLogger(__name__)

# A 429 from Telegram is waited out and retried this often before a reply is given up.
RATE_LIMIT_RETRIES = 3
# Updates handled at once (different residents; each resident's stay in order).
CONCURRENT_UPDATES = 16
CONNECTIONS = 64  # to the Bot API, for replies, staff notifications and button answers
# Retention: closed items older than retention.closed_items_days go once a day (and at start).
PURGE_INTERVAL_SECONDS = 24 * 3600
PURGE_FIRST_SECONDS = 1
# Start-up keeps retrying a network failure, backing off to 30 s between tries (PTB's loop);
# a rejected token still stops at once.
BOOTSTRAP_RETRIES = -1
COMMANDS = ("start", "help", "wish", "mine", "language", "forget")
MIN_SECRET_CHARS = 8  # shorter pieces would redact ordinary words


class RedactSecrets(logging.Filter):
    """Replaces secrets (the bot token) wherever they appear in a log record."""

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
    """Logs to stderr with every secret redacted; httpx and httpcore (every request) speak
    only when debugging."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(
            logging.DEBUG if level <= logging.DEBUG else logging.WARNING
        )
    redact = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)


def build_application(config: Config, station: Station) -> Application:
    """A PTB Application serving `station`; the caller opens and closes the station."""
    updates: asyncio.Queue = asyncio.Queue()
    throttle = AIORateLimiter(max_retries=RATE_LIMIT_RETRIES) if config.rate_limiter else None
    app = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.base_url)
        .base_file_url(config.base_file_url)
        .rate_limiter(Resend(throttle))
        .request(AiohttpRequest(CONNECTIONS))
        .update_queue(updates)
        .get_updates_request(PollWhenHandled(updates, connection_pool_size=1))
        .concurrent_updates(InOrderPerResident(station, CONCURRENT_UPDATES))
        .post_init(announce_commands)
        .build()
    )
    app.bot_data[STATION_KEY] = station
    if config.retention_days and app.job_queue is not None:
        app.job_queue.run_repeating(
            purge_closed_items,
            PURGE_INTERVAL_SECONDS,
            first=PURGE_FIRST_SECONDS,
            data=config.retention_days,
            name="retention",
        )
    # staff first: the resident handlers end with catch-alls (unknown commands, any button)
    staff.register(app)
    resident.register(app)
    app.add_error_handler(log_error)
    return app


async def announce_commands(app: Application) -> None:
    """Sets the command menu in both languages (a failure only costs the menu)."""
    try:
        for language in LANGUAGES:
            commands = [BotCommand(name, t(f"command.{name}", language)) for name in COMMANDS]
            await app.bot.set_my_commands(commands, language_code=language)
        commands = [BotCommand(name, t(f"command.{name}", "zh")) for name in COMMANDS]
        await app.bot.set_my_commands(commands)
    except TelegramError as error:
        log.warning("could not set the command menu: %s", error)


async def purge_closed_items(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Retention: deletes finished questions and wishes older than the configured days."""
    days: int = context.job.data
    station: Station = context.application.bot_data[STATION_KEY]
    try:
        removed = await station.storage.purge_closed_older_than(days)
    except StorageError as error:
        log.error("retention: %s", error)
        return
    if any(removed.values()):
        counts = ", ".join(f"{table} {count}" for table, count in removed.items() if count)
        log.info("retention: removed records older than %d days: %s", days, counts)


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs an error raised while handling an update (secrets are redacted by the filter)."""
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(context.error, (NetworkError, RetryAfter)):
        # Telegram unreachable or busy: PTB retries polling itself, a traceback adds nothing
        where = f"update {update_id}" if update_id is not None else "polling"
        log.warning("Telegram unreachable or busy (%s): %s", where, context.error)
        return
    log.error("error while handling update %s", update_id, exc_info=context.error)


def main(args: argparse.Namespace) -> int:
    """Runs the bot until stopped: long polling, or a webhook when the config has one."""
    try:
        config = load_config(args.config, require_token=True)
        check_storage_path(config)
    except ConfigError as error:
        print(startup_error_line(error), file=sys.stderr)
        return 2
    webhook = config.webhook
    level = getattr(logging, getattr(args, "log_level", None) or "INFO")
    configure_logging([config.token, webhook.secret_token if webhook else None], level)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # PTB's run_* use the current loop: the station's loop
    try:
        station = loop.run_until_complete(Station.create(config))
    except (StorageError, FaqError) as error:
        print(startup_error_line(error), file=sys.stderr)
        loop.close()
        return 2
    app = build_application(config, station)
    log.info(
        "Station Helper: %d FAQ entries, database %s, %s",
        len(station.kb.entries),
        config.storage_path,
        f"webhook on port {webhook.port}" if webhook else "long polling",
    )
    try:
        if webhook:
            app.run_webhook(
                listen=webhook.listen,
                port=webhook.port,
                url_path=webhook.path,
                webhook_url=webhook.url,
                secret_token=webhook.secret_token,
                allowed_updates=Update.ALL_TYPES,
                bootstrap_retries=BOOTSTRAP_RETRIES,
                close_loop=False,
            )
        else:
            app.run_polling(
                allowed_updates=Update.ALL_TYPES,
                bootstrap_retries=BOOTSTRAP_RETRIES,
                close_loop=False,
            )
    except InvalidToken:
        return fail("Telegram rejected the bot token (telegram.token)", 2)
    finally:
        loop.run_until_complete(station.close())
        loop.close()
    return 0
