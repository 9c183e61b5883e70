"""End to end: the real PTB Application polling our fake Bot API server (tests/fake_telegram.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fake_telegram import running_bot

from bot.core import callback
from bot.messages import t
from faq.model import MatchResult

UNANSWERABLE = "请问下周三小区停水吗，水管工什么时候来修理"


def rows(tmp_path: Path, table: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / "station.db") as db:
        # who asked, as the channel knows them (the Telegram user id)
        return db.execute(
            f"SELECT CAST(r.external_id AS INTEGER), t.text FROM {table} t"
            " JOIN residents r ON r.user_id = t.user_id ORDER BY t.id"
        ).fetchall()


async def test_start_greets_with_big_topic_buttons(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        update = fake.command("start", language_code="en")
        [reply] = await fake.replies(update)
        assert reply.text == t("start", "en")
        assert "🍚 Canteen" in reply.keyboard()
        assert reply.params["reply_markup"]["resize_keyboard"] is True
        assert fake.called("setMyCommands"), "the command menu is set at start-up"


async def test_question_gets_the_faq_answer(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, station):
        entry = station.kb.get("canteen.prices")
        [reply] = await fake.replies(fake.message(entry.questions["zh"][0]))
        assert reply.text.startswith(entry.answer["zh"])
        assert [label for label, _ in reply.inline_buttons()] == ["👍 有帮助", "👎 没帮助"]
        assert "parse_mode" not in reply.params, "resident text is sent as plain text"
        assert rows(tmp_path, "questions") == []


async def test_unanswered_question_is_saved_and_the_reply_gives_its_reference(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        [reply] = await fake.replies(fake.message(UNANSWERABLE))
        assert rows(tmp_path, "questions") == [(42, UNANSWERABLE)]
        assert "Q0001" in reply.text


async def test_suggestion_buttons_one_right_and_none_of_these(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, station):
        station.matcher.match = lambda text: MatchResult(
            text, "suggest", None, ["canteen.hours", "canteen.menu"], 65.0, [("canteen.hours", 65)]
        )
        [menu] = await fake.replies(fake.message("食堂那个"))
        buttons = menu.inline_buttons()
        assert len(buttons) == 3 and buttons[-1][0] == t("none_of_these", "zh")

        [answer] = await fake.replies(fake.press(buttons[1][1]))
        assert answer.text.startswith(station.kb.get("canteen.menu").answer["zh"])
        assert fake.called("answerCallbackQuery")

        [saved] = await fake.replies(fake.press(buttons[-1][1]))
        assert "Q0001" in saved.text
        assert rows(tmp_path, "questions") == [(42, "食堂那个")]
        assert fake.called("editMessageReplyMarkup"), "the used buttons are removed"


async def test_wish_with_text_and_wish_then_text(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        [first] = await fake.replies(fake.command("wish", "希望开一个书法班"))
        assert "W0001" in first.text
        [prompt] = await fake.replies(fake.command("wish"))
        assert prompt.text == t("wish.prompt", "zh")
        [second] = await fake.replies(fake.message("希望楼道装个扶手"))
        assert "W0002" in second.text
        assert rows(tmp_path, "wishes") == [(42, "希望开一个书法班"), (42, "希望楼道装个扶手")]


async def test_mine_lists_the_residents_items(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        await fake.replies(fake.message(UNANSWERABLE))
        await fake.replies(fake.command("wish", "希望开一个书法班"))
        [mine] = await fake.replies(fake.command("mine"))
        assert "Q0001" in mine.text and "W0001" in mine.text and "书法班" in mine.text


async def test_forget_after_confirmation_deletes_everything(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        await fake.replies(fake.message(UNANSWERABLE))
        [confirm] = await fake.replies(fake.command("forget"))
        yes = confirm.inline_buttons()[0][1]
        [done] = await fake.replies(fake.press(yes))
        assert done.text.startswith("已经删除了您的所有信息")
        assert rows(tmp_path, "questions") == []


async def test_sticker_gets_a_note_on_what_the_bot_understands(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        [reply] = await fake.replies(fake.sticker())
        assert reply.text == t("only_text", "zh")


async def test_location_gets_the_nearest_station(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, station):
        branch = station.kb.station["branches"][0]
        [reply] = await fake.replies(fake.location(branch["lat"], branch["lon"]))
        assert branch["name"]["zh"] in reply.text


async def test_group_chat_answers_only_mentions_and_hides_stored_data(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, station):
        entry = station.kb.get("canteen.prices")
        fake.message(UNANSWERABLE, chat_id=-100123, chat_type="supergroup")
        fake.sticker(chat_id=-100123, chat_type="supergroup")
        other_bot = {"type": "mention", "offset": 0, "length": 9}
        fake.message(
            "@otherbot 食堂几点", chat_id=-100123, chat_type="supergroup", entities=[other_bot]
        )
        await fake.settle()
        assert fake.sent() == [] and rows(tmp_path, "questions") == []

        [answer] = await fake.replies(fake.mention(entry.questions["zh"][0]))
        assert answer.chat_id == -100123
        assert answer.text.startswith(entry.answer["zh"])
        assert answer.keyboard() == [], "no reply keyboard pops up for the whole group"

        mine = fake.command("mine", chat_id=-100123, chat_type="supergroup")
        [private] = await fake.replies(mine)
        assert private.text == t("private_only", "zh")


async def test_flood_gets_one_note_and_the_excess_is_not_saved(tmp_path: Path):
    async with running_bot(tmp_path, flood_max_messages=3, flood_window_seconds=60) as (
        fake,
        _,
    ):
        for n in range(8):
            fake.message(f"第{n}个：{UNANSWERABLE}")
        await fake.settle()
        texts = [call.text for call in fake.sent()]
        # a burst of flood_max_messages is a flood: its last one gets the note
        assert texts.count(t("slow_down", "zh")) == 1
        assert len(texts) == 3
        assert len(rows(tmp_path, "questions")) == 2


async def test_rate_limited_reply_arrives_once_after_retry_after(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        fake.fail_next("sendMessage", status=429, retry_after=1)
        update = fake.message(UNANSWERABLE)
        [reply] = await fake.replies(update, timeout=10)
        await fake.settle()
        attempts = [c for c in fake.called("sendMessage") if c.text == reply.text]
        assert [c.ok for c in attempts] == [False, True]
        assert attempts[1].at - attempts[0].at >= 1.0, "waited out retry_after"
        assert len(rows(tmp_path, "questions")) == 1


async def test_duplicate_update_creates_no_second_row_or_reply(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        update = fake.message(UNANSWERABLE)
        await fake.replies(update)
        fake.redeliver(update)
        await fake.settle()
        assert [u["update_id"] for u in fake.history].count(update) == 2
        assert len(fake.sent()) == 1
        assert rows(tmp_path, "questions") == [(42, UNANSWERABLE)]


async def test_junk_button_data_gets_a_harmless_reply(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        [reply] = await fake.replies(fake.press("no:such:button"))
        assert reply.text == t("expired", "zh")
        [again] = await fake.replies(fake.press(callback("sug", "AAAAAAAA", "0")))
        assert again.text == t("expired", "zh")
