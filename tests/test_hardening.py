"""Hardening (issue 10): side doors around flood control, button state per resident, message
length, memory, anonymous group admins, and no token in what the Bot API connection says."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from aiohttp import web
from fake_telegram import TOKEN, running_bot

from bot.config import Config
from bot.core import FloodGuard, Sender, Station, mine_pages
from bot.messages import t
from bot.staff import Actor, StaffDesk
from handlers.telegram import MAX_MESSAGE, AiohttpRequest, split_text

UNANSWERABLE = "请问下周三小区停水吗，水管工什么时候来修理"
ALICE = Sender(user_id=7, chat_id=7)
BOB = Sender(user_id=8, chat_id=8)
STAFF = Actor("telegram", "900", "Wang", "en")


@pytest.fixture
async def station(tmp_path: Path):
    config = Config(storage_path=tmp_path / "station.db", staff_chat_id=-500)
    station = await Station.create(config)
    yield station
    await station.close()


def notices(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        [(count,)] = db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'notice'")
    return count


async def test_follow_ups_pass_flood_control_and_cleaning_and_merge_for_staff(station: Station):
    question = (await station.on_text(ALICE, UNANSWERABLE)).saved
    await StaffDesk(station).reply(question.ref, "不停水", actor=STAFF)
    before = notices(station.config.storage_path)
    replies = [
        await station.on_follow_up(ALICE, question.ref, f"还有问题\u202e{n}") for n in range(60)
    ]
    # the question was the first message of the window: then the follow-ups up to the limit
    answered = sum(1 for reply in replies if reply is not None)
    assert answered == station.flood.max_messages - 1
    assert replies[-1] is None, "the excess is neither answered nor passed on"
    # one notice waits for staff while it is unsent: the next follow-ups only join the item
    assert notices(station.config.storage_path) - before == 1
    item = await station.storage.get_item(question.ref)
    assert all("\u202e" not in note for _, note, _, _ in item.history)


async def test_thanks_buttons_pass_flood_control(station: Station):
    question = (await station.on_text(ALICE, UNANSWERABLE)).saved
    presses = [await station.on_thanks(ALICE, question.ref) for _ in range(30)]
    assert presses.count(None) == 1 + 30 - station.flood.max_messages  # the question counts


async def test_one_resident_asking_all_day_never_expires_anothers_buttons(station: Station):
    station.flood.max_messages = 10**6
    bob_answer = await station.on_text(BOB, "食堂几点开门")
    bob_buttons = [b.data for row in bob_answer.buttons for b in row]
    for n in range(300):
        await station.on_text(ALICE, f"食堂几点开门{n}")
    thanks = await station.on_callback(BOB, bob_buttons[0])
    assert thanks.text == t("feedback.thanks", "zh"), "buttons live in SQLite, per question"


async def test_mine_pages_fit_a_message_and_page_with_a_button(station: Station):
    station.flood.max_messages = 10**6
    for n in range(40):
        await station.on_wish(ALICE, f"希望第{n}个心愿" + "很长" * 60)
    first = await station.on_mine(ALICE)
    assert len(first.text) <= MAX_MESSAGE
    [[more]] = first.buttons
    second = await station.on_callback(ALICE, more.data)
    assert second.text != first.text and len(second.text) <= MAX_MESSAGE
    items = await station.storage.items_on("telegram", ALICE.user_id)
    pages = mine_pages(items, "zh")
    shown = "\n".join(pages)
    assert all(item.ref in shown for item in items), "every item on some page"


def test_a_long_message_is_split_where_telegram_takes_it():
    text = "\n".join(f"第{n}行" + "字" * 90 for n in range(200))
    pieces = split_text(text)
    assert all(0 < len(piece) <= MAX_MESSAGE for piece in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


def test_idle_residents_leave_the_flood_guard():
    clock = [0.0]
    guard = FloodGuard(20, 10, lambda: clock[0])
    for n in range(200_000):
        guard.check(f"telegram:{n}")
    clock[0] += 11
    guard.check("telegram:last")
    assert len(guard) == 1, "residents seen once are not kept for ever"


async def test_anonymous_group_admins_are_told_apart_by_their_chat(tmp_path: Path):
    async with running_bot(tmp_path, flood_max_messages=3) as (fake, _):
        for group in (-101, -102):
            for n in range(2):
                fake.message(
                    f"@station_helper_bot 第{n}个 {UNANSWERABLE}",
                    user_id=1087968824,  # Telegram's GroupAnonymousBot, the same for everyone
                    chat_id=group,
                    chat_type="supergroup",
                    sender_chat={"id": group, "type": "supergroup", "title": "g"},
                    entities=[{"type": "mention", "offset": 0, "length": 19}],
                )
        await fake.wait_for(lambda: len(fake.sent()) >= 4, timeout=10)
        await fake.settle()
        texts = [call.text for call in fake.sent()]
        assert t("slow_down", "zh") not in texts, "two groups do not share one flood counter"


async def test_a_dropped_connection_says_nothing_of_the_url_or_token():
    async def drop(request: web.Request) -> web.StreamResponse:
        request.transport.close()
        return web.Response()

    app = web.Application()
    app.router.add_post("/{tail:.*}", drop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        with pytest.raises(Exception) as failure:
            await request.do_request(f"http://127.0.0.1:{port}/bot{TOKEN}/sendDocument", "POST")
    finally:
        await request.shutdown()
        await runner.cleanup()
    assert TOKEN not in str(failure.value) and "sendDocument" not in str(failure.value)
    assert failure.value.__cause__ is None, "the aiohttp error (which names the URL) is dropped"
