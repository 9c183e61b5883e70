"""The staff loop end to end: the real Application polling the fake Bot API server
(tests/fake_telegram.py), a resident on one side and staff on the other."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_telegram import BOT, Call, FakeTelegram, running_bot
from staff_faq import FAQ

from bot.core import Station
from bot.messages import t
from faq.model import MatchResult

RESIDENT = 7
OTHER_RESIDENT = 8
STAFF = 900
STAFF_GROUP = -500
QUESTION = "饭堂礼拜天开伐 <b>急</b> <a href='http://evil.example'>点我</a>"
TAUGHT = "饭堂礼拜天开伐"


class Bot:
    """The fake server plus what the staff tests need: message ids the bot got back."""

    def __init__(self, fake: FakeTelegram, station: Station) -> None:
        self.fake, self.station = fake, station
        self.results: list[tuple[dict[str, Any], dict[str, Any]]] = []
        original = fake._message_result

        def recording(params: dict[str, Any]) -> dict[str, Any]:
            result = original(params)
            self.results.append((params, result))
            return result

        fake._message_result = recording  # type: ignore[method-assign]

    def message_id_of(self, call: Call) -> int:
        return next(r["message_id"] for p, r in self.results if p is call.params)

    def staff_command(self, command: str, args: str = "", **options: Any) -> int:
        options.setdefault("user_id", STAFF)
        options.setdefault("chat_id", STAFF_GROUP)
        options.setdefault("chat_type", "supergroup")
        return self.fake.command(command, args, **options)

    def reply_to(self, message_id: int, chat_id: int, text: str, *, user_id: int) -> int:
        chat_type = "private" if chat_id > 0 else "supergroup"
        original = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": BOT,
            "text": "…",
        }
        return self.fake.message(
            text,
            user_id=user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            reply_to_message=original,
        )

    async def ask_unanswered(self, text: str = QUESTION) -> tuple[str, Call]:
        """A resident question the matcher cannot answer; returns its ref and the notification."""
        real = self.station.matcher.match
        self.station.matcher.match = lambda question: MatchResult(
            question, "none", None, [], 40.0, [("canteen.hours", 40.0), ("donation.how", 20.0)]
        )
        try:
            await self.fake.replies(self.fake.message(text, user_id=RESIDENT))
            notice = await self.fake.wait_for(
                lambda: self.fake.sent(STAFF_GROUP), what="staff notification"
            )
        finally:
            self.station.matcher.match = real
        item = (await self.station.storage.items_on("telegram", RESIDENT))[0]
        return item.ref, notice[-1]


@contextlib.asynccontextmanager
async def staff_bot(tmp_path: Path, **overrides: Any) -> AsyncIterator[Bot]:
    faq = tmp_path / "faq.yaml"
    faq.write_text(FAQ, encoding="utf-8")
    overrides.setdefault("staff_user_ids", frozenset({STAFF}))
    overrides.setdefault("staff_chat_id", STAFF_GROUP)
    async with running_bot(tmp_path, faq_path=faq, **overrides) as (fake, station):
        yield Bot(fake, station)


def not_allowed(call: Call) -> bool:
    return call.text == t("staff.not_allowed", "zh")


# --- notifications and replies ------------------------------------------------------------


async def test_unanswered_question_reaches_the_staff_group_escaped(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, notice = await bot.ask_unanswered()
        assert ref == "Q0001"
        assert notice.params["parse_mode"] == "HTML"
        assert "Q0001" in notice.text and "Resident7" in notice.text
        assert "&lt;b&gt;急&lt;/b&gt;" in notice.text
        assert "<a href" not in notice.text and "&lt;a href=" in notice.text
        assert "canteen.hours (40) 食堂几点开门" in notice.text
        assert [data for _, data in notice.inline_buttons()] == [
            "st:r:Q0001",
            "st:x:Q0001",
            "st:t:Q0001",
        ]


async def test_without_a_group_each_staff_member_is_told_privately(tmp_path: Path):
    async with staff_bot(tmp_path, staff_chat_id=None, staff_user_ids=frozenset({901, 902})) as bot:
        bot.station.matcher.match = lambda q: MatchResult(q, "none", None, [], 0.0, [])
        await bot.fake.replies(bot.fake.message("我家的猫会游泳吗", user_id=RESIDENT))
        await bot.fake.wait_for(lambda: bot.fake.sent(901) and bot.fake.sent(902))
        assert not bot.fake.sent(STAFF_GROUP)
        assert bot.fake.sent(901)[0].text == bot.fake.sent(902)[0].text
        assert "Q0001" in bot.fake.sent(901)[0].text


async def test_reply_command_reaches_the_resident_with_the_question_quoted(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered()
        update = bot.staff_command("reply", f"{ref} 礼拜天也开的")
        [delivered, confirmation] = await bot.fake.replies(update, count=2)
        assert confirmation.chat_id == STAFF_GROUP and "Q0001" in confirmation.text
        assert delivered.chat_id == RESIDENT
        assert "礼拜天也开的" in delivered.text and "Q0001" in delivered.text
        assert f"「{QUESTION}」" in delivered.text
        assert "parse_mode" not in delivered.params  # plain text: nothing to inject
        assert delivered.inline_buttons() == [("👍 谢谢", "st:thx:Q0001")]
        assert (await bot.station.storage.get_item(ref)).status == "answered"


async def test_telegram_reply_to_the_notification_reaches_the_resident(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, notice = await bot.ask_unanswered()
        update = bot.reply_to(bot.message_id_of(notice), STAFF_GROUP, "开的，8点", user_id=STAFF)
        [delivered, confirmation] = await bot.fake.replies(update, count=2)
        assert delivered.chat_id == RESIDENT and "开的，8点" in delivered.text
        assert confirmation.chat_id == STAFF_GROUP
        item = await bot.station.storage.get_item(ref)
        assert [reply.staff_id for reply in item.replies] == [STAFF]


async def test_reply_button_prompts_and_the_answer_to_the_prompt_is_delivered(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered()
        [prompt] = await bot.fake.replies(bot.fake.press(f"st:r:{ref}", user_id=STAFF,
                                                         chat_id=STAFF_GROUP))  # fmt: skip
        assert ref in prompt.text and prompt.params["reply_markup"]["force_reply"] is True
        update = bot.reply_to(bot.message_id_of(prompt), STAFF_GROUP, "周日照常", user_id=STAFF)
        [delivered, _] = await bot.fake.replies(update, count=2)
        assert delivered.chat_id == RESIDENT and "周日照常" in delivered.text


async def test_resident_follow_up_returns_to_staff_under_the_same_reference(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered()
        await bot.fake.replies(bot.staff_command("reply", f"{ref} 开的"))
        delivered = bot.fake.sent(RESIDENT)[-1]
        update = bot.reply_to(
            bot.message_id_of(delivered), RESIDENT, "那几点关门？", user_id=RESIDENT
        )
        replies = await bot.fake.replies(update, count=2)
        [ack] = [c for c in replies if c.chat_id == RESIDENT]
        [follow_up] = [c for c in replies if c.chat_id == STAFF_GROUP]
        assert ref in ack.text
        assert "追问 Q0001" in follow_up.text and "那几点关门？" in follow_up.text
        item = await bot.station.storage.get_item(ref)
        assert item.status == "open" and item.history[-1][1] == "那几点关门？"
        assert len(await bot.station.storage.items_on("telegram", RESIDENT)) == 1  # no new question


async def test_thanks_button_closes_only_the_residents_own_question(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered()
        await bot.fake.replies(bot.staff_command("reply", f"{ref} 开的"))
        bot.fake.press(f"st:thx:{ref}", user_id=OTHER_RESIDENT)
        await bot.fake.settle()
        assert (await bot.station.storage.get_item(ref)).status == "answered"
        [thanks] = await bot.fake.replies(bot.fake.press(f"st:thx:{ref}", user_id=RESIDENT))
        assert (await bot.station.storage.get_item(ref)).status == "resolved"
        assert thanks.chat_id == RESIDENT and thanks.text == t("staff.thanks_ack", "zh")


# --- inbox, resolve, wishes, stats, export ----------------------------------------------


async def test_inbox_and_resolve(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered()
        [inbox] = await bot.fake.replies(bot.staff_command("inbox"))
        assert "Q0001" in inbox.text and "Resident7" in inbox.text
        [done] = await bot.fake.replies(bot.staff_command("resolve", f"{ref} 电话里答复了"))
        assert "Q0001" in done.text
        item = await bot.station.storage.get_item(ref)
        assert item.status == "resolved" and item.history[-1][1] == "电话里答复了"
        [empty] = await bot.fake.replies(bot.staff_command("inbox"))
        assert empty.text == t("staffui.inbox_empty", "zh")


async def test_resolve_button(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered()
        await bot.fake.replies(bot.fake.press(f"st:x:{ref}", user_id=STAFF, chat_id=STAFF_GROUP))
        assert (await bot.station.storage.get_item(ref)).status == "resolved"


async def test_wish_status_change_tells_the_resident(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        await bot.fake.replies(bot.fake.command("wish", "希望开个烹饪课", user_id=RESIDENT))
        [notice] = await bot.fake.wait_for(lambda: bot.fake.sent(STAFF_GROUP))
        assert "W0001" in notice.text
        assert [data for _, data in notice.inline_buttons()][1:] == [
            "st:w:W0001:accepted",
            "st:w:W0001:declined",
        ]
        update = bot.staff_command("wish_status", "W0001 in_progress 下个月开班")
        [told, confirmation] = await bot.fake.replies(update, count=2)
        assert told.chat_id == RESIDENT and "W0001" in told.text and "下个月开班" in told.text
        assert t("status.in_progress", "zh") in confirmation.text
        [told] = await bot.fake.replies(
            bot.fake.press("st:w:W0001:done", user_id=STAFF, chat_id=STAFF_GROUP)
        )
        assert told.chat_id == RESIDENT and "实现" in told.text
        assert (await bot.station.storage.get_item("W0001")).status == "done"


async def test_wishes_are_pooled(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        for user_id, text in [
            (1, "希望开个烹饪课"),
            (2, "能不能开烹饪课"),
            (3, "烹饪课！"),
            (4, "修楼道灯"),
        ]:
            await bot.fake.replies(bot.fake.command("wish", text, user_id=user_id))
        [listing] = await bot.fake.replies(bot.staff_command("wishes"))
        assert "希望开个烹饪课 ×3, from 3 residents" in listing.text
        assert "修楼道灯 ×1" in listing.text


async def test_stats_and_export(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        await bot.ask_unanswered()
        [figures] = await bot.fake.replies(bot.staff_command("stats"))
        assert t("stats.saved", "zh", count=1) in figures.text
        assert t("stats.received", "zh", count=1) in figures.text
        [said] = await bot.fake.replies(bot.staff_command("export"))
        assert said.chat_id == STAFF_GROUP and said.text == t("staffui.export_private", "zh")
        [document] = await bot.fake.wait_for(lambda: bot.fake.called("sendDocument"))
        # the whole database goes only to the staff member who asked, never to the group
        assert int(document.params["chat_id"]) == STAFF
        assert document.params["caption"] == t("staffui.export_caption", "zh", count=1)
        assert document.params["_files"] == ["document"]


# --- teaching and reloading ----------------------------------------------------------------


async def test_teach_then_the_same_question_is_answered(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered(TAUGHT)
        update = bot.staff_command("teach", f"{ref} canteen.hours")
        replies = await bot.fake.replies(update, count=2)
        [taught] = [c for c in replies if c.chat_id == STAFF_GROUP]
        [told] = [c for c in replies if c.chat_id == RESIDENT]
        assert "canteen.hours" in taught.text and "现在能直接回答" in taught.text
        assert "Q0001" in told.text and "食堂每天 7:00 开门。" in told.text
        assert (await bot.station.storage.get_item(ref)).status == "answered"
        overlay = yaml.safe_load(bot.station.config.overlay_path.read_text(encoding="utf-8"))
        assert overlay == {"teach": {"canteen.hours": {"zh": [TAUGHT]}}}
        [answer] = await bot.fake.replies(bot.fake.message(TAUGHT, user_id=OTHER_RESIDENT))
        assert answer.text.startswith("食堂每天 7:00 开门。")


async def test_teach_button_offers_the_best_guesses(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered(TAUGHT)
        [offer] = await bot.fake.replies(
            bot.fake.press(f"st:t:{ref}", user_id=STAFF, chat_id=STAFF_GROUP)
        )
        assert [data for _, data in offer.inline_buttons()] == [f"st:tt:{ref}:0", f"st:tt:{ref}:1"]
        replies = await bot.fake.replies(
            bot.fake.press(f"st:tt:{ref}:0", user_id=STAFF, chat_id=STAFF_GROUP), count=2
        )
        [taught] = [c for c in replies if c.chat_id == STAFF_GROUP]
        assert "canteen.hours" in taught.text
        assert bot.station.matcher.match(TAUGHT).id == "canteen.hours"


async def test_broken_faq_is_refused_and_the_old_one_kept(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        kb = bot.station.kb
        (tmp_path / "faq.yaml").write_text("entries:\n  - id: canteen.hours\n    anwser: x\n")
        [refused] = await bot.fake.replies(bot.staff_command("reload"))
        assert "reload refused" in refused.text and "faq.yaml" in refused.text
        assert bot.station.kb is kb
        [answer] = await bot.fake.replies(bot.fake.message("怎么捐款", user_id=RESIDENT))
        assert answer.text.startswith("到服务台捐款。")
        (tmp_path / "faq.yaml").write_text(FAQ, encoding="utf-8")
        [reloaded] = await bot.fake.replies(bot.staff_command("reload"))
        assert reloaded.text == t("staffui.reloaded", "zh", entries=2)


async def test_broken_overlay_is_refused_and_the_old_one_kept(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        overlay = bot.station.config.overlay_path
        overlay.write_text("teach:\n  no.such.entry: {zh: [随便]}\n", encoding="utf-8")
        [refused] = await bot.fake.replies(bot.staff_command("reload"))
        assert "no.such.entry" in refused.text
        [answer] = await bot.fake.replies(bot.fake.message("怎么捐款", user_id=RESIDENT))
        assert answer.text.startswith("到服务台捐款。")


# --- safety -------------------------------------------------------------------------------


async def test_non_staff_gets_a_neutral_reply_for_every_staff_command(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered()
        await bot.fake.replies(bot.fake.command("wish", "希望开烹饪课", user_id=RESIDENT))
        attempts = [
            ("reply", f"{ref} 假回复"),
            ("inbox", ""),
            ("resolve", ref),
            ("wishes", ""),
            ("wish_status", "W0001 done"),
            ("stats", ""),
            ("export", ""),
            ("teach", f"{ref} canteen.hours"),
            ("reload", ""),
        ]
        for command, args in attempts:
            [answer] = await bot.fake.replies(
                bot.fake.command(command, args, user_id=OTHER_RESIDENT)
            )
            assert not_allowed(answer), command
        # logged once, not once per try: 60 tries must not become 60 warnings
        assert caplog.text.count(f"non-staff telegram:{OTHER_RESIDENT} tried") == 1
        assert "tried staff action reply_command" in caplog.text
        assert not bot.fake.called("sendDocument")
        assert (await bot.station.storage.get_item(ref)).status == "open"
        assert (await bot.station.storage.get_item("W0001")).status == "open"
        assert not bot.station.config.overlay_path.exists()


async def test_forged_staff_callbacks_do_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    async with staff_bot(tmp_path) as bot:
        ref, _ = await bot.ask_unanswered()
        await bot.fake.replies(bot.fake.command("wish", "希望开烹饪课", user_id=RESIDENT))
        sent_before = len(bot.fake.sent())
        forged = (f"st:x:{ref}", f"st:r:{ref}", f"st:tt:{ref}:0", "st:w:W0001:done",
                  "st:inbox:0", f"st:t:{ref}")  # fmt: skip
        for data in forged:
            bot.fake.press(data, user_id=RESIDENT)
        # one a second or so into a private chat, as Telegram asks
        await bot.fake.wait_for(lambda: len(bot.fake.sent()) - sent_before >= 6, timeout=10)
        await bot.fake.settle()
        assert f"non-staff telegram:{RESIDENT} tried staff action" in caplog.text
        assert repr(forged[0]) in caplog.text, "the forged data is in the log"
        assert len(bot.fake.called("answerCallbackQuery")) == 6
        refusals = bot.fake.sent()[sent_before:]
        assert len(refusals) == 6 and all(not_allowed(c) for c in refusals)
        assert all(c.chat_id == RESIDENT for c in refusals)
        assert (await bot.station.storage.get_item(ref)).status == "open"
        assert (await bot.station.storage.get_item("W0001")).status == "open"
        assert not bot.station.config.overlay_path.exists()


async def test_staff_commands_stay_out_of_resident_groups(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        await bot.ask_unanswered()
        update = bot.staff_command("inbox", chat_id=-777)
        [answer] = await bot.fake.replies(update)
        assert "Q0001" not in answer.text and answer.text == t("staffui.not_here", "zh")


async def test_staff_member_may_work_in_a_private_chat(tmp_path: Path):
    async with staff_bot(tmp_path) as bot:
        await bot.ask_unanswered()
        [inbox] = await bot.fake.replies(
            bot.staff_command("inbox", chat_id=STAFF, chat_type="private")
        )
        assert "Q0001" in inbox.text
