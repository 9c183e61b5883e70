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
import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import staff
from bot.config import ConfigError, check_station, load_config
from bot.core import Station
from bot.pooling import SUMMARY_CHARS
from bot.staff import Actor, StaffDesk, StaffError
from bot.storage import StorageError
from bot.text import UNPRINTABLE, one_line
from faq.loader import FaqError
from handlers.cli import fail

Action = Callable[[StaffDesk], Awaitable[int]]
NAME_CHARS = 40  # a resident's display name in one output line
CLI = Actor("cli", "cli", "cli", "en")


def actor_of(args: argparse.Namespace) -> Actor:
    """The person at the terminal: every station's staff, or one station's (--station)."""
    station = getattr(args, "station", None)
    return dataclasses.replace(CLI, station=station) if station else CLI


def run(args: argparse.Namespace, action: Action, *, reads_only: bool = False) -> int:
    """Loads the config, the FAQ and the database the bot uses, runs `action`; every failure
    is one line on stderr. A reading command never creates an empty database."""
    try:
        config = load_config(getattr(args, "config", None))
        check_station(config, getattr(args, "station", None))
    except ConfigError as error:
        return fail(str(error), 2)
    if reads_only and not config.storage_url and not config.storage_path.exists():
        return fail(
            f"no database at {config.storage_path} ({config.where('storage.path')}): "
            "give the bot's --config, or start the bot once",
            1,
        )

    async def with_desk() -> int:
        station = await Station.create(config)
        try:
            return await action(StaffDesk(station))
        finally:
            await station.close()

    try:
        return asyncio.run(with_desk())
    except BrokenPipeError:
        raise  # the reader went away: handlers.cli.main stops quietly
    except FaqError as error:
        return fail(f"the FAQ does not load, fix it first:\n{error}", 2)
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
    """Open questions and wishes, longest waiting first."""

    async def show(desk: StaffDesk) -> int:
        now = datetime.now(UTC)
        items = await desk.inbox(actor=actor_of(args))
        if not items and not args.json:
            print("inbox empty: no open questions or wishes")
        for item in items:
            if args.json:
                print(as_json({
                    "ref": item.ref,
                    "kind": item.kind,
                    "text": item.text,
                    "status": item.status,
                    "user_id": item.user_id,
                    "channel": item.channel,
                    "created_at": item.created_at,
                    # several stations: the one it was saved for
                    **({"station": item.station_id} if item.station_id else {}),
                }))  # fmt: skip
            else:
                name = one_line(item.display_name or "-", NAME_CHARS)
                print(
                    f"{item.ref}  {item.kind:<8}  {item.status:<11}  {staff.age_of(item, now):>4}"
                    f"  {name}: {one_line(item.text, SUMMARY_CHARS)}"
                )
        return 0

    return run(args, show, reads_only=True)


def reply(args: argparse.Namespace) -> int:
    """Queues a staff answer for the resident (the running bot delivers it) and stores it."""

    async def send(desk: StaffDesk) -> int:
        item = await desk.reply(args.ref, args.text, actor=actor_of(args))
        name = one_line(item.display_name or "the resident", NAME_CHARS)
        print(f"{item.ref}: queued for {name} on {item.channel}, now {item.status}")
        return 0

    return run(args, send)


def resolve(args: argparse.Namespace) -> int:
    """Closes a question without a reply (a note, if given, goes to the resident)."""

    async def close(desk: StaffDesk) -> int:
        item = await desk.resolve(args.ref, args.note, actor=actor_of(args))
        print(f"{item.ref}: {item.status}")
        return 0

    return run(args, close)


def wish_status(args: argparse.Namespace) -> int:
    """Moves a wish to accepted / in_progress / done / declined and tells the resident."""

    async def change(desk: StaffDesk) -> int:
        item = await desk.set_wish_status(args.ref, args.status, args.note, actor=actor_of(args))
        print(f"{item.ref}: {item.status} (resident told)")
        return 0

    return run(args, change)


def wishes(args: argparse.Namespace) -> int:
    """Wishes with similar ones pooled, biggest pool first."""

    async def show(desk: StaffDesk) -> int:
        pools = await desk.wishes(args.status, actor=actor_of(args))
        if not pools and not args.json:
            print("no wishes" + (f" with status {args.status}" if args.status else ""))
        for pool in pools:
            if args.json:
                print(as_json(pool.as_json()))
            else:
                print(f"{pool.describe()}  [{', '.join(pool.refs)}]")
        return 0

    return run(args, show, reads_only=True)


def stats(args: argparse.Namespace) -> int:
    """The last N days in figures."""

    async def show(desk: StaffDesk) -> int:
        result = await desk.stats(args.days, actor=actor_of(args))
        print(as_json(result.as_json()) if args.json else "\n".join(result.lines("en")))
        return 0

    return run(args, show, reads_only=True)


def export(args: argparse.Namespace) -> int:
    """Writes every question and wish to a CSV file (UTF-8 with BOM, for Excel)."""

    async def write(desk: StaffDesk) -> int:
        target = Path(args.csv)
        rows = await staff.export_to_file(desk, target, actor=actor_of(args))
        print(f"{target}: {rows} rows")
        return 0

    return run(args, write, reads_only=True)


def teach(args: argparse.Namespace) -> int:
    """Adds a question's text to an FAQ entry in the staff overlay, checks it is answered now,
    and queues the answer for the resident who asked."""

    async def add(desk: StaffDesk) -> int:
        result = await desk.teach(args.ref, args.entry_id, actor=actor_of(args))
        verb = "taught" if result.added else "already taught"
        text = one_line(result.text, SUMMARY_CHARS)
        print(f"{result.ref}: {verb} to {result.entry_id} ({result.language}): {text}")
        state = "now answered" if result.now_answered else "NOT yet answered by the matcher"
        print(f"{state} (score {result.score:.0f}); overlay: {desk.station.config.overlay_path}")
        return 0 if result.now_answered else 1

    return run(args, add)
