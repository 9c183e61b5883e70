"""Staff commands on a PC: `stationbot inbox / reply / resolve / wishes / stats / export / teach`.

Thin layers over bot/staff.py, the same functions the Telegram staff handlers call. Each
prints plain lines (JSON with --json) and returns an exit code: 0 done, 1 the action was
refused (unknown reference, broken overlay...), 2 unusable configuration. Resident text is
printed through one_line (plain) or as_json (--json): control characters never reach the
terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import staff
from bot.cli import fail
from bot.config import Config, ConfigError, load_config
from bot.staff import StaffError
from bot.storage import Storage, StorageError
from bot.text import UNPRINTABLE, one_line
from faq.loader import FaqError, load

Action = Callable[[Config, Storage], Awaitable[int]]
NAME_CHARS = 40  # a resident's display name in one output line


def run(args: argparse.Namespace, action: Action, *, require_token: bool = False) -> int:
    """Loads the config, opens storage, runs `action`; every failure is one line on stderr."""
    try:
        config = load_config(getattr(args, "config", None), require_token=require_token)
    except ConfigError as error:
        return fail(str(error), 2)

    async def with_storage() -> int:
        async with Storage.open(config.storage_path) as storage:
            return await action(config, storage)

    try:
        return asyncio.run(with_storage())
    except BrokenPipeError:
        raise  # the reader went away: bot.cli.main stops quietly
    except (StaffError, StorageError, OSError) as error:
        return fail(str(error), 1)


def as_json(value: Any) -> str:
    """One JSON line; Chinese stays readable, and the C1 controls and bidi overrides that
    json leaves raw with ensure_ascii=False are escaped too, so no stored text reaches the
    terminal as a control sequence (json.loads gives the same text back)."""
    line = json.dumps(value, ensure_ascii=False)
    return UNPRINTABLE.sub(lambda match: "".join(f"\\u{ord(c):04x}" for c in match[0]), line)


# --- commands -----------------------------------------------------------------------------


def inbox(args: argparse.Namespace) -> int:
    """Open questions and wishes, newest first."""

    async def show(config: Config, storage: Storage) -> int:
        now = datetime.now(UTC)
        for item in await staff.inbox(storage):
            if args.json:
                print(as_json({
                    "ref": item.ref,
                    "kind": item.kind,
                    "text": item.text,
                    "status": item.status,
                    "user_id": item.user_id,
                    "created_at": item.created_at,
                }))  # fmt: skip
            else:
                name = one_line(item.display_name or "-", NAME_CHARS)
                print(
                    f"{item.ref}  {item.kind:<8}  {item.status:<11}  {staff.age_of(item, now):>4}"
                    f"  {name}: {one_line(item.text, staff.SUMMARY_CHARS)}"
                )
        return 0

    return run(args, show)


def reply(args: argparse.Namespace) -> int:
    """Delivers a staff answer through the Bot API, then stores it."""
    from telegram import Bot
    from telegram.error import TelegramError

    from handlers.staff import resident_sender

    async def send(config: Config, storage: Storage) -> int:
        bot = Bot(config.token, base_url=config.base_url, base_file_url=config.base_file_url)
        try:
            async with bot:
                item = await staff.reply(
                    storage, args.ref, args.text, staff_id=None, send=resident_sender(bot)
                )
        except TelegramError as error:
            return fail(f"could not deliver {args.ref}: {error}", 1)
        name = one_line(item.display_name or "the resident", NAME_CHARS)
        print(f"{item.ref}: sent to {name}, now {item.status}")
        return 0

    return run(args, send, require_token=True)


def resolve(args: argparse.Namespace) -> int:
    """Closes a question without a reply."""

    async def close(config: Config, storage: Storage) -> int:
        item = await staff.resolve(storage, args.ref, args.note, staff_id=None)
        print(f"{item.ref}: {item.status}")
        return 0

    return run(args, close)


def wishes(args: argparse.Namespace) -> int:
    """Wishes with similar ones pooled, biggest pool first."""

    async def show(config: Config, storage: Storage) -> int:
        for pool in await staff.wishes(storage, args.status):
            if args.json:
                print(as_json(pool.as_json()))
            else:
                print(f"{pool.describe()}  [{', '.join(pool.refs)}]")
        return 0

    return run(args, show)


def stats(args: argparse.Namespace) -> int:
    """The last N days in figures."""

    async def show(config: Config, storage: Storage) -> int:
        result = await staff.stats(storage, days=args.days)
        print(as_json(result.as_json()) if args.json else "\n".join(result.lines()))
        return 0

    return run(args, show)


def export(args: argparse.Namespace) -> int:
    """Writes every question and wish to a CSV file (UTF-8 with BOM, for Excel)."""

    async def write(config: Config, storage: Storage) -> int:
        target = Path(args.csv)
        rows = await staff.export_to_file(storage, target)
        print(f"{target}: {rows} rows")
        return 0

    return run(args, write)


def teach(args: argparse.Namespace) -> int:
    """Adds a question's text to an FAQ entry in the staff overlay."""

    async def add(config: Config, storage: Storage) -> int:
        try:
            kb = await asyncio.to_thread(load, config.faq_path, overlay=config.overlay_path)
        except FaqError as error:
            raise StaffError(f"the FAQ does not load, fix it first:\n{error}") from None
        result = await staff.teach(
            storage,
            args.ref,
            args.entry_id,
            kb=kb,
            overlay_path=config.overlay_path,
            faq_path=config.faq_path,
        )
        verb = "taught" if result.added else "already taught"
        text = one_line(result.text, staff.SUMMARY_CHARS)
        print(f"{result.ref}: {verb} to {result.entry_id} ({result.language}): {text}")
        print(f"overlay: {config.overlay_path} (a running bot picks it up within a minute)")
        return 0

    return run(args, add)
