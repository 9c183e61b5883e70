"""`stationbot run` start-up errors, and the bot token kept out of every log line."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import io
import logging
import os
import signal
import sys
from pathlib import Path

import pytest
from fake_telegram import TOKEN, FakeTelegram, running_bot
from telegram.ext import Application

from bot.app import RedactSecrets, configure_logging, main
from bot.core import Station
from bot.messages import t

WEBHOOK_SECRET = "s3cret-" + "x" * 32  # at least 32 characters


def run(config: Path) -> int:
    return main(argparse.Namespace(config=str(config)))


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATIONBOT_TOKEN", raising=False)
    monkeypatch.delenv("STATIONBOT_CONFIG", raising=False)


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [
        ("storage:\n  path: x.db\n", "token"),
        ('telegram:\n  token: "1:A"\n  tokn: "2:B"\n', "tokn"),
        ('telegram:\n  token: "1:A"\nstorage: [unclosed\n', "config.yaml:"),
        ('telegram:\n  token: "1:A"\nstorage:\n  path: "not-a-folder/sub/x.db"\n', "storage.path"),
        ('telegram:\n  token: "1:A"\nfaq:\n  path: "broken.yaml"\n', "broken.yaml"),
    ],
    ids=["missing token", "unknown key", "malformed", "unwritable db path", "broken faq"],
)
def test_bad_setup_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, config_text: str, expected: str
):
    (tmp_path / "not-a-folder").write_text("a file, not a folder")
    (tmp_path / "broken.yaml").write_text("entries:\n  - id: x\n    anwser: {}\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        config_text.replace('"not-a', f'"{tmp_path}/not-a').replace(
            '"broken', f'"{tmp_path}/broken'
        )
    )
    assert run(config) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stationbot: ")
    assert expected in err
    assert "Traceback" not in err


def test_redaction_covers_messages_arguments_and_tracebacks():
    redact = RedactSecrets([TOKEN, None])
    try:
        raise ValueError(f"https://api.telegram.org/bot{TOKEN}/getMe failed")
    except ValueError as error:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "POST %s",
            (f"/bot{TOKEN}/send",),
            (type(error), error, error.__traceback__),
        )
    assert redact.filter(record)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.emit(record)
    assert TOKEN not in stream.getvalue()
    assert stream.getvalue().count("[REDACTED]") == 2


async def test_token_never_reaches_the_log_while_the_bot_runs(tmp_path: Path):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    try:
        configure_logging([TOKEN])
        root.setLevel(logging.DEBUG)
        logging.getLogger("httpx").setLevel(logging.DEBUG)  # its request lines hold the token
        async with running_bot(tmp_path) as (fake, _):
            await fake.replies(fake.command("start"))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        for other in root.handlers:
            for found in [f for f in other.filters if isinstance(f, RedactSecrets)]:
                other.removeFilter(found)
    text = stream.getvalue()
    assert "[REDACTED]" in text, "the log did see the token-bearing URLs"
    assert TOKEN not in text
    assert TOKEN.partition(":")[2] not in text


@pytest.mark.parametrize("mode", ["polling", "webhook"])
def test_run_starts_polling_or_the_configured_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
):
    calls: dict[str, dict] = {}

    def fake_run(name: str):
        def run_mode(self: Application, **options) -> None:
            inspect.signature(getattr(Application, name)).bind(self, **options)
            calls[name] = options

        return run_mode

    monkeypatch.setattr(Application, "run_polling", fake_run("run_polling"))
    monkeypatch.setattr(Application, "run_webhook", fake_run("run_webhook"))
    closed = []
    real_close = Station.close

    async def close(self: Station) -> None:
        closed.append(True)
        await real_close(self)

    monkeypatch.setattr(Station, "close", close)
    webhook = (
        "  webhook:\n    url: https://bot.example.org/telegram\n    port: 8444\n"
        f"    secret_token: {WEBHOOK_SECRET}\n"
        if mode == "webhook"
        else ""
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f'telegram:\n  token: "{TOKEN}"\n{webhook}storage:\n  path: "{tmp_path / "s.db"}"\n'
    )
    try:
        assert run(config) == 0
    finally:
        asyncio.set_event_loop(None)
    assert closed == [True], "the station is closed when the bot stops"
    if mode == "polling":
        assert calls["run_polling"]["bootstrap_retries"] == -1
    else:
        options = calls["run_webhook"]
        assert options["webhook_url"] == "https://bot.example.org/telegram"
        assert (options["port"], options["url_path"], options["secret_token"]) == (
            8444,
            "/telegram",
            WEBHOOK_SECRET,
        )
        assert options["bootstrap_retries"] == -1


async def test_stationbot_run_survives_a_failing_start_and_stops_cleanly(tmp_path: Path):
    fake = FakeTelegram()
    fake.start()
    fake.fail_next("getMe", status=500)  # Telegram unreachable for a moment at start-up
    config = tmp_path / "config.yaml"
    config.write_text(
        f'telegram:\n  token: "{TOKEN}"\n  base_url: "{fake.base_url}"\n'
        f'storage:\n  path: "{tmp_path / "station.db"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONBOT_")}
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        [reply] = await fake.replies(fake.command("start"), timeout=30)
        assert reply.text == t("start", "zh")
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(bot.communicate(), 30)
        await fake.stop()
    log = err.decode()
    assert bot.returncode == 0, log
    assert len(fake.called("getMe")) >= 2, "start-up retried after the failure"
    assert TOKEN not in log and TOKEN.partition(":")[2] not in log
