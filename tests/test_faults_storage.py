"""The database misbehaving: locked by another process for a moment (ridden through), or
refusing writes (disk full): the resident gets an apology, never a false "saved", the bot
keeps running, and the failure is logged once with its cause."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_telegram import BotProcess, FakeTelegram, running_bot

from bot.messages import t
from bot.storage import _InThread

QUESTION = "zorbly quaffle wixen {n}"
REF = re.compile(r"Q\d{4,}")
HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def saved_texts(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as db:
        return [row[0] for row in db.execute("SELECT text FROM questions ORDER BY id")]


def apology(language: str) -> str:
    return t("save_failed", language, contact="").strip()


async def test_short_lock_by_another_process_is_ridden_through(tmp_path: Path):
    fake = FakeTelegram()
    fake.start()
    bot = BotProcess(tmp_path, fake)
    await bot.start()
    db_path = tmp_path / "station.db"
    try:
        [first] = await fake.replies(fake.message(QUESTION.format(n=1)), timeout=30)
        assert REF.search(first.text)
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLD_LOCK, str(db_path), "2", stdout=asyncio.subprocess.PIPE
        )
        assert await locker.stdout.readline() == b"locked\n"
        [second] = await fake.replies(fake.message(QUESTION.format(n=2)), timeout=30)
        assert await locker.wait() == 0
        assert REF.search(second.text), second.text
        assert bot.running
    finally:
        code = await bot.stop()
        await fake.stop()
    assert code == 0, bot.log
    assert saved_texts(db_path) == [QUESTION.format(n=1), QUESTION.format(n=2)]
    assert "database is locked" not in bot.log


async def test_failed_write_gets_an_apology_logged_once_and_the_bot_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    async with running_bot(tmp_path) as (fake, _):
        # inject the failure where SQLite would raise it, in what units of work write through
        real = _InThread.execute_fetchall

        async def disk_full(self: _InThread, sql: str, *args, **kwargs):
            if sql.lstrip().startswith("INSERT INTO questions"):
                raise sqlite3.OperationalError("database or disk is full")
            return await real(self, sql, *args, **kwargs)

        monkeypatch.setattr(_InThread, "execute_fetchall", disk_full)
        with caplog.at_level(logging.INFO):
            [sorry] = await fake.replies(fake.message(QUESTION.format(n=1), language_code="en"))
            monkeypatch.setattr(_InThread, "execute_fetchall", real)
            [saved] = await fake.replies(fake.message(QUESTION.format(n=2), language_code="en"))
    assert sorry.text.startswith(apology("en"))
    assert not REF.search(sorry.text), "no reference number for what was not saved"
    assert REF.search(saved.text), "the bot went on and saved the next question"
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert "database or disk is full" in failures[0].getMessage()
    assert failures[0].exc_info is None, "one line, not a traceback"
    assert saved_texts(tmp_path / "station.db") == [QUESTION.format(n=2)]


@contextlib.contextmanager
def tiny_disk(path: Path, size: str = "2m") -> Iterator[Path]:
    """A small tmpfs at `path` (needs root and a kernel that allows it), else the test skips."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if shutil.which("mount") is None or mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Writes a file until the disk is full; returns it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler


async def test_full_disk_never_claims_saved_and_loses_nothing(tmp_path: Path):
    """While the disk is full a resident is told nothing false: an apology (the message is
    then not kept) or nothing yet (the message waits, unconfirmed or in the inbox, and is
    answered once the disk has room)."""
    with tiny_disk(tmp_path / "disk") as disk:
        fake = FakeTelegram()
        fake.start()
        bot = BotProcess(tmp_path, fake, {"storage": {"path": str(disk / "station.db")}})
        await bot.start()
        try:
            [first] = await fake.replies(fake.message(QUESTION.format(n=1)), timeout=30)
            assert REF.search(first.text)
            filler = fill(disk)
            during = fake.message(QUESTION.format(n=2))
            await asyncio.sleep(3)
            told_during = [c.text for c in fake.sent()[1:]]
            filler.unlink()
            [again] = await fake.replies(fake.message(QUESTION.format(n=3)), timeout=30)
            await fake.settle(1.0)
            assert bot.running
        finally:
            code = await bot.stop()
            await fake.stop()
        texts = saved_texts(disk / "station.db")
    assert code == 0, bot.log
    assert all(not REF.search(text) for text in told_during), "nothing claimed saved"
    assert REF.search(again.text), again.text
    replies_to_2 = [c.text for c in fake.sent() if c.seq > fake.served_at.get(during, 10**9)]
    if any(text.startswith(apology("en")) for text in told_during):
        assert QUESTION.format(n=2) not in texts  # told "not saved", and it was not
    else:
        assert QUESTION.format(n=2) in texts, "kept and answered once the disk had room"
        assert any(REF.search(text) for text in replies_to_2)
    assert texts[0] == QUESTION.format(n=1) and texts[-1] == QUESTION.format(n=3)
    errors = [line for line in bot.log.splitlines() if " ERROR " in line or " WARNING " in line]
    assert errors and all("full" in line for line in errors), errors
    assert "Traceback" not in bot.log
