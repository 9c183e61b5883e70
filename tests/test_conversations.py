"""Every loop closed (issue 11 §4): the wish prompt takes only a wish, messages with nothing
to act on are not sent to staff, suggestion labels fit what was asked, the console is plain."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.config import Config
from bot.core import Sender, Station
from bot.messages import t
from faq.model import MatchResult
from handlers.console import ConsoleChat

ALICE = Sender(user_id=7, chat_id=7)


@pytest.fixture
async def station(tmp_path: Path):
    station = await Station.create(Config(storage_path=tmp_path / "station.db"))
    yield station
    await station.close()


async def test_the_wish_prompt_cancels_with_a_plain_cancel(station: Station):
    prompt = await station.on_wish(ALICE)
    [[cancel]] = prompt.buttons
    assert cancel.label == "取消"


async def test_a_question_the_faq_answers_after_the_wish_prompt_is_answered(station: Station):
    await station.on_wish(ALICE)
    reply = await station.on_text(ALICE, "食堂几点开门")
    assert reply.saved is None, "not saved as a wish"
    assert reply.text.startswith(station.kb.get("canteen.hours").answer["zh"])
    assert reply.buttons[0][0].label == t("wish.save_instead", "zh")
    saved = await station.on_callback(ALICE, reply.buttons[0][0].data)
    assert saved.saved is not None and saved.saved.kind == "wish"
    assert saved.saved.text == "食堂几点开门"
    again = await station.on_callback(ALICE, reply.buttons[0][0].data)
    assert again.saved is None and saved.saved.ref in again.text, "saved once"


async def test_anything_else_after_the_wish_prompt_is_the_wish(station: Station):
    await station.on_wish(ALICE)
    reply = await station.on_text(ALICE, "希望小区里多放几张长椅")
    assert reply.saved is not None and reply.saved.kind == "wish"


@pytest.mark.parametrize("text", ["嗯", "哦", "ok", "好的。", "嗯嗯", "伐", "吗？"])
async def test_a_word_with_nothing_to_act_on_is_not_sent_to_staff(station: Station, text: str):
    station.matcher.match = lambda q: MatchResult(q, "none", None, [], 5.0, [])
    reply = await station.on_text(ALICE, text)
    assert reply.saved is None and reply.text == t("acknowledged", reply.language)
    assert await station.storage.items_on("telegram", ALICE.user_id) == []


async def test_a_suggestion_shows_the_question_nearest_to_what_was_asked(station: Station):
    entry = station.kb.get("canteen.hours")
    asked = "中午饭几点开始"
    nearest = Station.closest_question(entry, asked, "zh")
    assert "午" in nearest and nearest != entry.first_question("zh")
    station.matcher.match = lambda q: MatchResult(
        q, "suggest", None, ["canteen.hours"], 20.0, [("canteen.hours", 20.0)]
    )
    reply = await station.on_text(ALICE, asked)
    assert reply.buttons[0][0].label == nearest


async def test_the_console_says_plainly_when_there_are_no_buttons(station: Station):
    output = io.StringIO()
    console = ConsoleChat(station, Sender(1, 1, channel="console"), output)
    runner = asyncio.create_task(console.courier.run())
    try:
        await console.handle("3")
        assert t("console.no_buttons", "zh", choice="3") in output.getvalue()
        await console.handle("/help")
        assert "位置" not in output.getvalue(), "no location to share in a terminal"
        assert t("help.console", "zh").splitlines()[0] in output.getvalue()
    finally:
        await console.courier.stop()
        runner.cancel()


async def test_a_fraud_attempt_gets_the_warning_at_once_and_staff_are_told(tmp_path: Path):
    config = Config(storage_path=tmp_path / "fraud.db", staff_chat_id=-500)
    station = await Station.create(config)
    try:
        reply = await station.on_text(ALICE, "有人打电话说我孙子出车祸了要我马上汇钱")
        warning = station.kb.get("safety.fraud").answer["zh"]
        assert reply.text.startswith(warning) and "96110" in reply.text
        assert reply.saved is not None and reply.saved.flag == "fraud"
        [notice] = station.notices(reply.saved)
        assert notice.text.startswith("<b>🚨") and reply.saved.ref in notice.text
    finally:
        await station.close()
