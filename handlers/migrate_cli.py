"""`stationbot migrate --from sqlite:PATH --to postgresql://…`: moves a station's data from
its SQLite file into an empty PostgreSQL database, every row kept (bot/transfer.py).

Exit codes: 0 moved, 1 refused or failed (nothing is left half-copied), 2 bad arguments."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.storage import StorageError, pg_url
from handlers.cli import fail


def migrate(args: argparse.Namespace) -> int:
    """Copies every table; prints rows per table."""
    source, target = args.source, args.target
    if not source.startswith("sqlite:"):
        return fail(f"--from must be sqlite:PATH, not {source!r}", 2)
    if not pg_url(target):
        return fail("--to must be a postgresql:// URL", 2)
    from bot.transfer import move

    try:
        moved = asyncio.run(
            move(Path(source.removeprefix("sqlite:")).expanduser(), target, progress=print)
        )
    except (StorageError, OSError) as error:
        return fail(str(error), 1)
    except Exception as error:  # the server refused (psycopg): one line, not a traceback
        return fail(f"could not move the data: {error}", 1)
    print(f"moved {sum(m.target for m in moved)} rows in {len(moved)} tables")
    return 0
