"""Telegram misbehaving (429, 5xx, slow answers, dropped connections) at start-up, while
polling and while sending: `stationbot run` as a real subprocess keeps every reply, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fake_telegram import TOKEN, BotProcess, FakeTelegram

from bot.messages import t

FAQ = """
entries:
  - id: canteen.hours
    questions:
      zh: [食堂几点开门]
      en: [When does the canteen open?]
    answer:
      zh: 食堂每天 7:00 开门。
      en: The canteen opens at 7:00.
"""


def question(n: int) -> str:
    """A question no entry answers, different for every n."""
    return f"zorbly quaffle {n} wixen"


def saved_rows(tmp_path: Path) -> list[tuple[int, int, str]]:
    with sqlite3.connect(tmp_path / "station.db") as db:
        return db.execute(
            "SELECT q.id, CAST(r.external_id AS INTEGER), q.text FROM questions q"
            " JOIN residents r ON r.user_id = q.user_id ORDER BY q.id"
        ).fetchall()


def plan_startup_faults(fake: FakeTelegram) -> None:
    fake.fail_next("getMe", status=502)
    fake.drop_next("getMe")
    fake.fail_next("getUpdates", status=429, retry_after=1)
    fake.drop_next("getUpdates")
    fake.slow_next("getUpdates", seconds=1.5)


def plan_running_faults(fake: FakeTelegram) -> None:
    fake.fail_next("getUpdates", status=500)
    fake.fail_next("getUpdates", status=502)
    fake.fail_next("sendMessage", status=429, retry_after=1)
    fake.fail_next("sendMessage", status=500)
    fake.fail_next("sendMessage", status=502)
    fake.drop_next("sendMessage")
    fake.slow_next("sendMessage", seconds=1.5)


@pytest.mark.parametrize("rate_limiter", [True, False], ids=["throttled", "unthrottled"])
async def test_every_reply_arrives_once_through_telegram_faults(tmp_path: Path, rate_limiter: bool):
    faq = tmp_path / "faq.yaml"
    faq.write_text(FAQ, encoding="utf-8")
    fake = FakeTelegram()
    fake.start()
    plan_startup_faults(fake)
    bot = BotProcess(
        tmp_path,
        fake,
        {"telegram": {"rate_limiter": rate_limiter}, "faq": {"path": str(faq)}},
    )
    await bot.start()
    residents = list(range(100, 112))
    try:
        early = residents[:4]  # waiting while the bot fights its way through start-up
        for user_id in early:
            fake.message(question(user_id), user_id=user_id)
        await fake.wait_for(
            lambda: all(fake.sent(u) for u in early), timeout=60, what="replies after start-up"
        )
        plan_running_faults(fake)
        for user_id in residents[4:]:
            fake.message(question(user_id), user_id=user_id)
        fake.message("食堂几点开门", user_id=999)
        await fake.wait_for(
            lambda: all(fake.sent(u) for u in [*residents, 999]), timeout=60, what="all replies"
        )
        await fake.settle()
        assert bot.running, bot.log
        assert not any(fake.failures.values()), "every planned fault was met"
    finally:
        code = await bot.stop()
        await fake.stop()
    assert code == 0, bot.log
    rows = saved_rows(tmp_path)
    assert sorted(user for _, user, _ in rows) == residents, "each question saved once"
    for row_id, user_id, text in rows:
        [reply] = fake.sent(user_id)  # exactly one reply each
        assert text == question(user_id)
        assert reply.text == t("question.saved", "en", ref=f"Q{row_id:04d}")
    [answer] = fake.sent(999)
    assert answer.text.startswith("食堂每天 7:00 开门。")
    assert TOKEN not in bot.log
    assert "Traceback" not in bot.log, "a passing fault is one line, not a traceback"
