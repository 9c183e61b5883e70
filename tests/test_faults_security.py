"""The bot token in no log line at any level: `stationbot run --log-level DEBUG` as a real
subprocess, with PTB, asyncio, aiosqlite and every Bot API request logged, through failures."""

from __future__ import annotations

from pathlib import Path

from fake_telegram import TOKEN, BotProcess, FakeTelegram


async def test_token_is_in_no_log_line_even_at_debug(tmp_path: Path):
    fake = FakeTelegram()
    fake.start()
    fake.drop_next("getMe")  # an error message carrying the URL
    fake.fail_next("getUpdates", status=502)
    bot = BotProcess(tmp_path, fake, args=("--log-level", "DEBUG"), env={"PYTHONASYNCIODEBUG": "1"})
    await bot.start()
    try:
        fake.fail_next("sendMessage", status=500)
        await fake.replies(fake.command("start"), timeout=30)
        await fake.replies(fake.message("zorbly quaffle wixen"), timeout=30)
        await fake.replies(fake.press("no:such:button"), timeout=30)
    finally:
        code = await bot.stop()
        await fake.stop()
    log = bot.log
    assert code == 0, log
    for logger in ("telegram.", "asyncio:", "aiosqlite:"):
        assert f" DEBUG {logger}" in log, f"{logger} logged at DEBUG"
    assert " DEBUG handlers.telegram: POST " in log, "every Bot API request was logged"
    assert "[REDACTED]" in log, "token-bearing URLs were logged, redacted"
    assert TOKEN not in log
    assert TOKEN.partition(":")[2] not in log
    assert TOKEN.replace(":", "%3A") not in log
