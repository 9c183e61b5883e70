"""`stationbot run` start-up errors, and the bot token kept out of every log line."""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from fake_telegram import TOKEN, BotProcess, FakeTelegram, running_bot

from bot.messages import t
from handlers.telegram import RedactSecrets, configure_logging, main

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def post_update(port: int, update: dict, secret: str | None) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/telegram", json=update, headers=headers) as response,
    ):
        return response.status


@pytest.mark.parametrize("given_secret", [True, False], ids=["configured", "generated"])
async def test_webhook_takes_only_updates_carrying_the_secret(tmp_path: Path, given_secret: bool):
    fake = FakeTelegram()
    fake.start()
    port = free_port()
    webhook = {"url": "https://bot.example.org/telegram", "port": port}
    if given_secret:
        webhook["secret_token"] = "s" * 40
    bot = BotProcess(tmp_path, fake, {"telegram": {"webhook": webhook}})
    await bot.start()
    try:
        [registered] = await fake.wait_for(lambda: fake.called("setWebhook"), timeout=30)
        secret = registered.params["secret_token"]
        assert len(secret) >= 32 and (secret == "s" * 40) == given_secret
        update_id = fake.message("食堂几点开门", user_id=77)
        update = next(u for u in fake.updates if u["update_id"] == update_id)
        await fake.wait_for(lambda: port_open(port), timeout=30, what="the webhook listening")
        assert await post_update(port, update, None) == 403
        assert await post_update(port, update, "x" * 40) == 403
        await asyncio.sleep(0.5)
        assert not fake.sent(77), "a forged update is not handled"
        assert await post_update(port, update, secret) == 200
        await fake.wait_for(lambda: fake.sent(77), timeout=10, what="the answer")
        assert not fake.called("getUpdates"), "a webhook bot does not poll"
    finally:
        code = await bot.stop()
        await fake.stop()
    assert code == 0, bot.log
    assert secret not in bot.log


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


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
        "handlers.cli",
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


@pytest.mark.parametrize("from_environment", [True, False], ids=["environment", "file"])
async def test_a_token_telegram_rejects_is_one_line_naming_its_source(
    tmp_path: Path, from_environment: bool
):
    fake = FakeTelegram()
    fake.start()
    wrong = "123456:WRONG-token-not-this-bot"
    telegram = f'  base_url: "{fake.base_url}"\n' + (
        "" if from_environment else f'  token: "{wrong}"\n'
    )
    config = tmp_path / "config.yaml"
    config.write_text(f'telegram:\n{telegram}storage:\n  path: "{tmp_path / "s.db"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONBOT_")}
    if from_environment:
        env["STATIONBOT_TOKEN"] = wrong
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handlers.cli", "run", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(bot.communicate(), 60)
    finally:
        await fake.stop()
    text = err.decode()
    assert bot.returncode == 2, text
    assert text.count("\n") == 1 and "rejected the bot token" in text
    assert ("STATIONBOT_TOKEN" in text) == from_environment
    assert ("config.yaml" in text) != from_environment
    assert wrong not in text and "Traceback" not in text and "Unclosed" not in text
