"""`stationbot staff add / remove / list`: the staff web console's accounts.

`add` prints a generated password once (only its scrypt hash is stored), or reads one from
stdin with --password-stdin. Exit codes as the other staff commands: 0 done, 1 refused,
2 unusable configuration.
"""

from __future__ import annotations

import argparse
import sys

from bot.accounts import AccountError, Accounts, generate_password
from bot.cli import fail
from bot.config import Config
from bot.storage import Storage
from bot.text import one_line
from handlers.staff_cli import run


def add(args: argparse.Namespace) -> int:
    """Creates an account; prints the generated password once."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password, generated = generate_password(), True

    async def create(config: Config, storage: Storage) -> int:
        try:
            account = await Accounts(storage).add(args.name, password)
        except AccountError as error:
            return fail(str(error), 1)
        print(f"staff account {one_line(account.name)} added")
        if generated:
            print(f"password (shown only now, write it down): {password}")
        return 0

    return run(args, create)


def remove(args: argparse.Namespace) -> int:
    """Deletes an account and signs it out everywhere."""

    async def delete(config: Config, storage: Storage) -> int:
        try:
            await Accounts(storage).remove(args.name)
        except AccountError as error:
            return fail(str(error), 1)
        print(f"staff account {one_line(args.name)} removed")
        return 0

    return run(args, delete)


def list_accounts(args: argparse.Namespace) -> int:
    """The accounts, one a line: name and when it was made."""

    async def show(config: Config, storage: Storage) -> int:
        for account in await storage.staff_accounts():
            print(f"{one_line(account.name)}  (added {account.created_at})")
        return 0

    return run(args, show)
