"""`stationbot staff add / remove / list`: the staff web console's accounts.

`add` prints a generated password once (only its scrypt hash is stored), or reads one from
stdin with --password-stdin. Exit codes as the other staff commands: 0 done, 1 refused,
2 unusable configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from bot.accounts import AccountError, Accounts, generate_password
from bot.config import ConfigError, check_station, load_config
from bot.storage import Storage, StorageError
from bot.text import one_line
from handlers.cli import fail


def run(args: argparse.Namespace, action: Callable[[Storage], Awaitable[int]]) -> int:
    """Opens the bot's database (no FAQ needed) and runs `action`; failures are one line."""
    try:
        config = load_config(getattr(args, "config", None))
        check_station(config, getattr(args, "station", None))
    except ConfigError as error:
        return fail(str(error), 2)

    async def with_storage() -> int:
        async with Storage.open(config.database) as storage:
            return await action(storage)

    try:
        return asyncio.run(with_storage())
    except (StorageError, OSError) as error:
        return fail(str(error), 1)


def add(args: argparse.Namespace) -> int:
    """Creates an account; prints the generated password once."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password, generated = generate_password(), True

    async def create(storage: Storage) -> int:
        try:
            account = await Accounts(storage).add(args.name, password, args.station)
        except AccountError as error:
            return fail(str(error), 1)
        where = f" for station {account.station_id}" if account.station_id else ""
        print(f"staff account {one_line(account.name)} added{where}")
        if generated:
            print(f"password (shown only now, write it down): {password}")
        return 0

    return run(args, create)


def remove(args: argparse.Namespace) -> int:
    """Deletes an account and signs it out everywhere."""

    async def delete(storage: Storage) -> int:
        try:
            await Accounts(storage).remove(args.name)
        except AccountError as error:
            return fail(str(error), 1)
        print(f"staff account {one_line(args.name)} removed")
        return 0

    return run(args, delete)


def list_accounts(args: argparse.Namespace) -> int:
    """The accounts, one a line: name and when it was made."""

    async def show(storage: Storage) -> int:
        for account in await storage.staff_accounts():
            where = f", station {account.station_id}" if account.station_id else ""
            print(f"{one_line(account.name)}  (added {account.created_at}{where})")
        return 0

    return run(args, show)
