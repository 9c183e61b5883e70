"""The resident decision path (bot/core.py) without Telegram: answers, buttons, wishes, language,
flood control and storage failures."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from bot.config import Config
from bot.core import MAX_CALLBACK_BYTES, MAX_OPEN_QUESTIONS, Reply, Sender, Station, callback
from bot.messages import MESSAGES, t
from bot.storage import StorageError, Tx
from faq.model import Entry, KnowledgeBase, MatchResult

UNANSWERABLE = "请问下周三小区停水吗，水管工什么时候来修理"
ALICE = Sender(user_id=7, chat_id=7, language_code="zh-hans")
BOB = Sender(user_id=8, chat_id=8, language_code="en")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FixedMatcher:
    """Stands in for the matcher where a test needs one particular outcome."""

    def __init__(self, result: MatchResult):
        self.result = result

    def match(self, text: str) -> MatchResult:
        return self.result


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def station(tmp_path: Path, clock: FakeClock):
    config = Config(storage_path=tmp_path / "station.db")
    station = await Station.create(config, clock=clock)
    yield station
    await station.close()


def data_of(reply: Reply) -> list[str]:
    return [button.data for row in reply.buttons for button in row]


def suggesting(station: Station, *entry_ids: str) -> None:
    station.matcher = FixedMatcher(
        MatchResult("q", "suggest", None, list(entry_ids), 70.0, [(i, 70.0) for i in entry_ids])
    )


# --- answers ---


async def test_exact_faq_question_is_answered_with_feedback_buttons(station: Station):
    entry = station.kb.get("canteen.prices")
    reply = await station.on_text(ALICE, entry.questions["zh"][0])
    assert reply.text.startswith(entry.answer["zh"])
    assert reply.saved is None
    assert [d.split(":")[1] for d in data_of(reply)] == ["fb", "fb"]


async def test_a_second_question_in_the_message_is_offered_as_a_button(station: Station):
    reply = await station.on_text(ALICE, "食堂怎么付钱啊还有今天吃什么")
    assert reply.text.startswith(station.kb.get("canteen.payment").answer["zh"])
    assert data_of(reply)[0] == callback("ans", "canteen.menu")  # the second question
    assert reply.buttons[0][0].label in reply.text  # the note names the question offered
    shown = await station.on_callback(ALICE, data_of(reply)[0])
    assert shown.text.startswith(station.kb.get("canteen.menu").answer["zh"])


async def test_one_question_gets_no_second_button(station: Station):
    reply = await station.on_text(ALICE, "食堂怎么付钱")
    assert not any(d.split(":")[1] == "ans" for d in data_of(reply))


async def test_answer_follows_the_script_typed(station: Station):
    entry = station.kb.get("canteen.prices")
    reply = await station.on_text(ALICE, entry.questions["en"][0])
    assert reply.language == "en"
    assert reply.text.startswith(entry.answer["en"])


async def test_chosen_language_wins_over_the_script(station: Station):
    await station.on_language(ALICE, "en")
    entry = station.kb.get("canteen.prices")
    reply = await station.on_text(ALICE, entry.questions["zh"][0])
    assert reply.language == "en"
    assert reply.text.startswith(entry.answer["en"])


async def test_start_uses_telegram_language_code(station: Station):
    assert (await station.on_start(BOB)).language == "en"
    start = await station.on_start(ALICE)
    assert start.language == "zh"
    assert start.keyboard and ["🍚 社区食堂", "🕘 开放时间"] in start.keyboard


async def test_live_line_follows_an_entry_with_live_data(station: Station):
    entry = station.kb.get("canteen.hours")
    assert entry.live
    reply = await station.on_text(ALICE, entry.questions["zh"][0])
    assert len(reply.text) > len(entry.answer["zh"]) + 2  # the live status was added


async def test_unanswerable_question_is_saved_with_a_reference(station: Station):
    reply = await station.on_text(ALICE, UNANSWERABLE)
    assert reply.saved is not None and reply.saved.kind == "question"
    assert reply.saved.ref in reply.text
    items = await station.storage.items_on("telegram", ALICE.user_id)
    assert [item.text for item in items] == ["请问下周三小区停水吗，水管工什么时候来修理"]


async def test_asking_for_a_person_answers_and_saves_for_staff(station: Station):
    entry = station.kb.get("smalltalk.human")
    reply = await station.on_text(ALICE, entry.questions["zh"][0])
    assert reply.saved is not None
    assert reply.text.startswith(entry.answer["zh"])
    assert reply.saved.ref in reply.text


async def test_control_characters_never_reach_staff(station: Station):
    # an arrow key in a bare terminal, a bell and a right-to-left override
    reply = await station.on_text(
        ALICE, "\x1b[A\x07请问下周三小区\u202e停水吗\x00，水管工什么时候来修理"
    )
    assert reply.saved is not None
    assert reply.saved.text == UNANSWERABLE
    only_escapes = await station.on_text(ALICE, "\x1b[A\x1b[A")
    assert only_escapes.saved is None and only_escapes.text == t("empty_question", "zh")


@pytest.mark.parametrize("text", ["g", "A", " x ", "🙏🙏🙏", "１２"])
async def test_a_stray_letter_or_emoji_is_not_saved_for_staff(station: Station, text: str):
    reply = await station.on_text(BOB, text)
    assert reply.saved is None
    assert reply.text == t("empty_question", reply.language)
    assert await station.storage.items_on("telegram", BOB.user_id) == []


# --- suggestions and buttons ---


async def test_suggestion_pressed_shows_that_answer(station: Station):
    suggesting(station, "canteen.hours", "canteen.menu")
    reply = await station.on_text(ALICE, "食堂")
    labels = [button.label for row in reply.buttons for button in row]
    assert labels[-1] == t("none_of_these", "zh")
    assert len(labels) == 3
    answer = await station.on_callback(ALICE, data_of(reply)[1])
    assert answer.text.startswith(station.kb.get("canteen.menu").answer["zh"])


async def test_none_of_these_saves_the_question_once(station: Station):
    suggesting(station, "canteen.hours")
    reply = await station.on_text(ALICE, "食堂有没有素菜")
    none = data_of(reply)[-1]
    saved = await station.on_callback(ALICE, none)
    assert saved.saved is not None and saved.saved.text == "食堂有没有素菜"
    again = await station.on_callback(ALICE, none)
    assert again.saved is None and saved.saved.ref in again.text
    assert len(await station.storage.items_on("telegram", ALICE.user_id)) == 1


async def test_thumbs_down_offers_to_pass_the_question_to_staff(station: Station):
    entry = station.kb.get("canteen.prices")
    answer = await station.on_text(ALICE, entry.questions["zh"][0])
    sorry = await station.on_callback(ALICE, data_of(answer)[1])
    assert sorry.retire_buttons
    passed = await station.on_callback(ALICE, data_of(sorry)[0])
    assert passed.saved is not None and passed.saved.text == entry.questions["zh"][0]


async def test_someone_elses_button_does_nothing(station: Station):
    suggesting(station, "canteen.hours")
    reply = await station.on_text(ALICE, "食堂有没有素菜")
    other = await station.on_callback(BOB, data_of(reply)[-1])
    assert other.saved is None and other.text == t("not_yours", "en")


@pytest.mark.parametrize(
    "data",
    [
        "",
        "junk",
        "1",
        "1:",
        "1:sug",
        "1:sug:abc",
        "1:sug:AAAAAAAA:9",
        "0:ans:canteen.hours",
        "1:fb:?:AAAAAAAA",
        "1:ans:no.such.entry",
        "1:lang:fr",
        "1:ans:a:b:c",
        "1:wish:maybe",
        "\x00:💥",
    ],
)
async def test_junk_callback_data_gets_a_harmless_reply(station: Station, data: str):
    reply = await station.on_callback(ALICE, data)
    assert reply.text == t("expired", "zh")
    assert reply.saved is None


async def test_expired_suggestions_say_so(station: Station, clock: FakeClock):
    suggesting(station, "canteen.hours")
    reply = await station.on_text(ALICE, "食堂有没有素菜")
    with sqlite3.connect(station.config.storage_path) as db:  # two days later
        db.execute("UPDATE pending SET created_at = '2000-01-01T00:00:00Z'")
    assert (await station.on_callback(ALICE, data_of(reply)[0])).text == t("expired", "zh")


async def test_every_button_fits_telegrams_64_bytes(station: Station):
    long_id = "x" * 80
    assert len(callback("ans", long_id).encode()) > MAX_CALLBACK_BYTES
    replies = [await station.on_text(ALICE, label) for label in MESSAGES_TOPIC_LABELS]
    suggesting(station, "services.neighbourhood_issues", "services.community_affairs")
    replies.append(await station.on_text(ALICE, "小区"))
    for reply in replies:
        assert all(len(d.encode()) <= MAX_CALLBACK_BYTES for d in data_of(reply))


MESSAGES_TOPIC_LABELS = [MESSAGES[k]["zh"] for k in MESSAGES if k.startswith("topic.")]


async def test_topic_button_opens_its_category_menu(station: Station):
    reply = await station.on_text(ALICE, t("topic.canteen", "zh"))
    assert {d.split(":", 2)[2] for d in data_of(reply)} == {
        e.id for e in station.kb.entries if e.category == "canteen"
    }
    answer = await station.on_callback(ALICE, callback("ans", "canteen.menu"))
    assert answer.text.startswith(station.kb.get("canteen.menu").answer["zh"])


# --- wishes ---


async def test_wish_with_text_is_saved_at_once(station: Station):
    reply = await station.on_wish(ALICE, "希望开一个书法班")
    assert reply.saved is not None and reply.saved.kind == "wish"
    assert reply.saved.ref.startswith("W") and reply.saved.ref in reply.text


async def test_wish_without_text_takes_the_next_message(station: Station):
    prompt = await station.on_wish(ALICE)
    assert prompt.text == t("wish.prompt", "zh")
    saved = await station.on_text(ALICE, "希望楼道装个扶手")
    assert saved.saved is not None and saved.saved.text == "希望楼道装个扶手"
    # the next message is a question again
    after = await station.on_text(ALICE, station.kb.get("canteen.prices").questions["zh"][0])
    assert after.saved is None


@pytest.mark.parametrize("text", ["我想许个愿", "I want to make a wish"])
async def test_saying_i_want_to_make_a_wish_is_the_decision_match_reports(
    station: Station, text: str
):
    """One decision path: the bot answers what `stationbot match` says (wish.how), and that
    answer carries the button that opens the wish prompt."""
    decision = station.matcher.match(text)
    assert (decision.outcome, decision.id) == ("answer", "wish.how")
    reply = await station.on_text(ALICE, text)
    assert reply.text.startswith(station.kb.get("wish.how").answer[reply.language])
    assert callback("wish", "start") in data_of(reply)
    prompt = await station.on_callback(ALICE, callback("wish", "start"))
    assert prompt.text == t("wish.prompt", prompt.language)


async def test_wish_prompt_can_be_cancelled(station: Station):
    prompt = await station.on_wish(ALICE)
    cancelled = await station.on_callback(ALICE, data_of(prompt)[0])
    assert cancelled.text == t("wish.cancelled", "zh")
    reply = await station.on_text(ALICE, UNANSWERABLE)
    assert reply.saved is not None and reply.saved.kind == "question"


@pytest.mark.parametrize("word", ["取消", "算了。", "Cancel", "never mind"])
async def test_typing_cancel_under_the_wish_prompt_saves_no_wish(station: Station, word: str):
    await station.on_wish(ALICE)
    reply = await station.on_text(ALICE, word)
    assert reply.saved is None and reply.text == t("wish.cancelled", reply.language)
    assert await station.storage.items_on("telegram", ALICE.user_id) == []


@pytest.mark.parametrize("text", ["2", "👍", "x"])
async def test_wish_command_without_words_asks_for_the_wish(station: Station, text: str):
    reply = await station.on_wish(ALICE, text)
    assert reply.saved is None and reply.text == t("wish.prompt", "zh"), "and still in Chinese"


async def test_another_command_ends_the_wish_prompt(station: Station):
    await station.on_wish(ALICE)
    await station.on_mine(ALICE)
    reply = await station.on_text(ALICE, UNANSWERABLE)
    assert reply.saved is not None and reply.saved.kind == "question"


# --- the resident's own data ---


async def test_mine_lists_items_with_status(station: Station):
    assert (await station.on_mine(ALICE)).text == t("mine.empty", "zh")
    wish = (await station.on_wish(ALICE, "希望开一个书法班")).saved
    question = (await station.on_text(ALICE, UNANSWERABLE)).saved
    await station.storage.add_staff_reply(question.ref, 99, "不停水，放心")
    text = (await station.on_mine(ALICE)).text
    assert f"{wish.ref}（心愿，{t('status.open', 'zh')}）" in text
    assert f"{question.ref}（问题，{t('status.answered', 'zh')}）" in text
    assert "不停水，放心" in text


async def test_mine_shows_an_old_row_with_escape_codes_as_one_safe_line(station: Station):
    # rows saved before input was cleaned go straight into storage, as they once did
    await station.on_start(ALICE)
    alice = await station.storage.find_resident("telegram", str(ALICE.user_id))
    await station.storage.save_question(
        alice.user_id, 7, "食堂\x1b[2J几点\n开门\u202e" + "饭" * 300
    )
    text = (await station.on_mine(ALICE)).text
    assert "\x1b" not in text and "\u202e" not in text
    assert "食堂�几点 开门�" in text and "饭" * 300 not in text


async def test_suggestion_label_falls_back_to_the_other_language(station: Station):
    visa = Entry("expat.visa", {"zh": [], "en": ["How do I renew my visa?"]}, {"en": "..."})
    station.kb = KnowledgeBase([visa])
    suggesting(station, "expat.visa")
    reply = await station.on_text(ALICE, "签证怎么续")
    assert reply.buttons[0][0].label == "How do I renew my visa?"


async def test_mine_and_forget_are_private_only(station: Station):
    group = Sender(user_id=7, chat_id=-100, private=False)
    assert (await station.on_mine(group)).text == t("private_only", "zh")
    assert (await station.on_forget(group)).text == t("private_only", "zh")


async def test_forget_deletes_everything_after_confirmation(station: Station):
    await station.on_wish(ALICE, "希望开一个书法班")
    await station.on_language(ALICE, "en")
    confirm = await station.on_forget(ALICE)
    kept = await station.on_callback(ALICE, data_of(confirm)[1])
    assert kept.text == t("forget.kept", "en")
    assert await station.storage.items_on("telegram", ALICE.user_id)
    done = await station.on_callback(ALICE, data_of(confirm)[0])
    assert "W" not in done.text and done.retire_buttons
    assert await station.storage.items_on("telegram", ALICE.user_id) == []
    assert await station.storage.get_resident(ALICE.user_id) is None


# --- flood control and failures ---


async def test_flood_gets_one_note_then_silence_until_the_window_clears(
    station: Station, clock: FakeClock
):
    station.flood.max_messages = 5
    replies = [await station.on_text(ALICE, f"第{n}个：{UNANSWERABLE}") for n in range(8)]
    # a burst of max_messages in the window is a flood: its last one gets the note
    assert all(r is not None and r.saved for r in replies[:4])
    assert replies[4].text == t("slow_down", "zh") and replies[4].saved is None
    assert replies[5:] == [None, None, None]
    assert len(await station.storage.items_on("telegram", ALICE.user_id)) == 4
    clock.now += 11
    assert (await station.on_text(ALICE, UNANSWERABLE)).saved is not None


async def test_twenty_messages_in_ten_seconds_are_a_flood_by_default(station: Station):
    assert (station.flood.max_messages, station.flood.window_seconds) == (20, 10)
    replies = [await station.on_text(ALICE, f"第{n}个：{UNANSWERABLE}") for n in range(25)]
    assert sum(1 for r in replies if r is not None and r.saved) == 19
    assert replies[19].text == t("slow_down", "zh")
    assert replies[20:] == [None] * 5, "the excess is neither answered nor saved"


async def test_open_questions_per_resident_are_capped(station: Station):
    station.flood.max_messages = 10**6
    for n in range(MAX_OPEN_QUESTIONS):
        assert (await station.on_text(ALICE, f"第{n}个：{UNANSWERABLE}")).saved
    capped = await station.on_text(ALICE, f"再一个：{UNANSWERABLE}")
    assert capped.saved is None and capped.text.startswith("您已经有很多问题在等")
    assert len(await station.storage.items_on("telegram", ALICE.user_id)) == MAX_OPEN_QUESTIONS


async def test_storage_failure_apologises_and_never_claims_saved(
    station: Station, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    async def broken(*args, **kwargs):
        raise StorageError("could not save the question: disk I/O error")

    monkeypatch.setattr(Tx, "save_item", broken)
    with caplog.at_level(logging.ERROR):
        reply = await station.on_text(ALICE, UNANSWERABLE)
    assert reply.saved is None
    assert reply.text.startswith("对不起，刚才没能保存")
    assert "disk I/O error" in caplog.text
    wish = await station.on_wish(ALICE, "希望开一个书法班")
    assert wish.saved is None and wish.text.startswith("对不起")


async def test_decisions_are_counted_for_stats(station: Station):
    await station.on_text(ALICE, station.kb.get("canteen.prices").questions["zh"][0])
    await station.on_text(ALICE, UNANSWERABLE)
    await station.on_wish(ALICE, "希望开一个书法班")
    await station.on_text(ALICE, t("topic.hours", "zh"))  # a button, not a typed question
    suggesting(station, "canteen.hours")
    reply = await station.on_text(ALICE, "食堂")
    await station.on_callback(ALICE, data_of(reply)[0])
    assert await station.storage.event_counts() == {
        "answer": 1,
        "none": 1,
        "wish": 1,
        "suggest": 1,
        "suggestion_click": 1,
    }


def test_every_message_exists_in_both_languages():
    for key, variants in MESSAGES.items():
        assert set(variants) == {"zh", "en"}, key
        assert all(text.strip() for text in variants.values()), key
