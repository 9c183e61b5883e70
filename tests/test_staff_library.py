"""Staff follow-up library (bot/staff.py) over a real SQLite Storage in a temporary folder."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from staff_faq import FAQ

from bot import pooling, staff
from bot.config import Config
from bot.core import Sender, Station
from bot.outbox import Outgoing
from bot.staff import Actor, StaffDesk, StaffError
from bot.storage import Item, Storage
from faq.loader import load

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai
ACTOR = Actor("telegram", "42", "Wang", "en")


class Clock:
    """A settable clock for Storage timestamps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def faq_file(tmp_path: Path) -> Path:
    path = tmp_path / "faq.yaml"
    path.write_text(FAQ, encoding="utf-8")
    return path


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock, faq_file: Path, database: str | Path):
    config = Config(
        storage_path=tmp_path / "bot.db",
        storage_url=database if isinstance(database, str) else None,
        faq_path=faq_file,
        overlay_path=tmp_path / "data" / "staff-overlay.yaml",
        staff_user_ids=frozenset({42}),
    )
    async with Storage.open(config.database, now=clock) as storage:
        yield StaffDesk(Station(config, load(faq_file), storage))


@pytest.fixture
def storage(desk: StaffDesk) -> Storage:
    return desk.storage


async def queued(storage: Storage) -> list[Outgoing]:
    """The messages waiting in the outbox, oldest first."""
    return [Outgoing.from_json(row.payload) for row in await storage.due_messages()]


def test_only_listed_numeric_telegram_ids_are_staff(desk: StaffDesk) -> None:
    assert desk.is_staff("telegram", 42)
    assert not desk.is_staff("telegram", 43)
    assert not desk.is_staff("telegram", None)
    assert not desk.is_staff("wechat", 42)


def test_references_are_read_leniently_and_rejected_clearly() -> None:
    assert staff.parse_ref("q12") == "Q0012"
    assert staff.parse_ref(" W0007 ") == "W0007"
    with pytest.raises(StaffError, match="not a reference"):
        staff.parse_ref("hello")


async def test_staff_reply_quotes_the_question_and_marks_it_answered(
    desk: StaffDesk, storage: Storage
) -> None:
    await storage.touch_resident(7, display_name="王阿姨", language="zh")
    item = await storage.save_question(7, 7, "食堂礼拜天开伐", [("canteen.hours", 58.0)])

    updated = await desk.reply(item.ref.lower(), "礼拜天也开。", actor=ACTOR)

    # queued with the change, in the same unit of work: the courier delivers it
    (delivery,) = await queued(storage)
    assert (delivery.channel, delivery.address) == ("telegram", "7")
    assert item.ref in delivery.text
    assert "「食堂礼拜天开伐」" in delivery.text
    assert "礼拜天也开。" in delivery.text
    assert [button.label for row in delivery.buttons for button in row] == ["👍 谢谢"]
    assert delivery.ref == item.ref, "the resident's reply to it comes back to this item"
    assert delivery.on_failure["address"] == "42", "a refusal reaches the staff member"
    assert updated.status == "answered"
    assert [(reply.text, reply.actor) for reply in updated.replies] == [
        ("礼拜天也开。", "telegram:Wang")
    ]


async def test_reply_in_english_for_an_english_resident(desk: StaffDesk, storage: Storage) -> None:
    await storage.touch_resident(8, language="en")
    item = await storage.save_question(8, 8, "Is there parking?")
    await desk.reply(item.ref, "Yes, two spaces.", actor=ACTOR)
    assert (await queued(storage))[0].text.startswith("Station staff answered your question")


async def test_a_long_answer_is_never_the_part_cut(desk: StaffDesk, storage: Storage) -> None:
    item = await storage.save_question(7, 7, "问" * 5000)
    answer = "答" * 3000 + "完"
    await desk.reply(item.ref, answer, actor=ACTOR)
    (delivery,) = await queued(storage)
    assert answer in delivery.text and len(delivery.text) <= staff.MAX_TEXT


async def test_reply_to_unknown_or_empty_is_refused(desk: StaffDesk, storage: Storage) -> None:
    item = await storage.save_question(7, 7, "有没有理发")
    with pytest.raises(StaffError, match="no question or wish Q0099"):
        await desk.reply("Q99", "text", actor=ACTOR)
    with pytest.raises(StaffError, match="empty reply"):
        await desk.reply(item.ref, "  ", actor=ACTOR)


async def test_resolve_closes_a_question_but_not_a_wish(desk: StaffDesk, storage: Storage) -> None:
    question = await storage.save_question(7, 7, "有没有理发")
    wish = await storage.save_wish(7, 7, "希望开烹饪课")
    resolved = await desk.resolve(question.ref, "told at the desk", actor=ACTOR)
    assert resolved.status == "resolved"
    assert resolved.history[-1][:2] == ("resolved", "told at the desk")
    with pytest.raises(StaffError, match="already resolved"):
        await desk.resolve(question.ref, actor=ACTOR)
    with pytest.raises(StaffError, match="is a wish"):
        await desk.resolve(wish.ref, actor=ACTOR)


async def test_wish_status_change_tells_the_resident(desk: StaffDesk, storage: Storage) -> None:
    await storage.touch_resident(7, language="zh")
    wish = await storage.save_wish(7, 70, "希望开烹饪课")
    updated = await desk.set_wish_status(wish.ref, "accepted", "下个月开班", actor=ACTOR)
    assert updated.status == "accepted" and updated.history[-1].actor == "telegram:Wang"
    (delivery,) = await queued(storage)
    assert delivery.address == "70"
    assert "已经受理" in delivery.text and "下个月开班" in delivery.text
    assert wish.ref in delivery.text and delivery.ref == wish.ref
    with pytest.raises(StaffError, match="unknown wish status"):
        await desk.set_wish_status(wish.ref, "maybe", actor=ACTOR)
    question = await storage.save_question(7, 7, "有没有理发")
    with pytest.raises(StaffError, match="not a wish"):
        await desk.set_wish_status(question.ref, "done", actor=ACTOR)
    assert len(await queued(storage)) == 1


async def test_resolve_note_is_shown_to_the_resident(desk: StaffDesk, storage: Storage) -> None:
    question = await storage.save_question(7, 7, "有没有理发")
    await desk.resolve(question.ref, actor=ACTOR)
    assert await queued(storage) == [], "no note: nothing to tell"
    other = await storage.save_question(7, 7, "能停车吗")
    await desk.resolve(other.ref, "门口可以停两辆", actor=ACTOR)
    (told,) = await queued(storage)
    assert "门口可以停两辆" in told.text and other.ref in told.text


async def test_follow_up_reopens_only_the_residents_own_item(
    desk: StaffDesk, storage: Storage
) -> None:
    for user_id in (7, 8):
        await storage.touch_resident(user_id)
    item = await storage.save_question(7, 7, "有没有理发")
    await desk.reply(item.ref, "周三有", actor=ACTOR)
    station = desk.station
    stranger, owner = Sender(8, 8), Sender(7, 7)
    await station.on_follow_up(stranger, item.ref, "not mine")
    assert (await storage.get_item(item.ref)).status == "answered"
    await station.on_follow_up(owner, item.ref, "几点开始？")
    reopened = await storage.get_item(item.ref)
    assert reopened.status == "open"
    assert reopened.history[-1][:2] == ("open", "几点开始？")
    # a 👍 on the old reply must not close the reopened question
    await station.on_thanks(owner, item.ref)
    assert (await storage.get_item(item.ref)).status == "open"


async def test_thanks_closes_an_answered_question(desk: StaffDesk, storage: Storage) -> None:
    for user_id in (7, 8):
        await storage.touch_resident(user_id)
    item = await storage.save_question(7, 7, "有没有理发")
    await desk.reply(item.ref, "周三有", actor=ACTOR)
    await desk.station.on_thanks(Sender(8, 8), item.ref)
    assert (await storage.get_item(item.ref)).status == "answered"
    await desk.station.on_thanks(Sender(7, 7), item.ref)
    assert (await storage.get_item(item.ref)).status == "resolved"


async def test_inbox_lists_open_items_longest_waiting_first(
    desk: StaffDesk, storage: Storage, clock: Clock
) -> None:
    first = await storage.save_question(7, 7, "第一")
    clock.advance(minutes=5)
    second = await storage.save_wish(8, 8, "第二")
    clock.advance(minutes=5)
    done = await storage.save_question(9, 9, "第三")
    await desk.resolve(done.ref, actor=ACTOR)
    assert [i.ref for i in await desk.inbox()] == [first.ref, second.ref], "longest waiting first"


async def test_similar_wishes_are_pooled(desk: StaffDesk, storage: Storage, clock: Clock) -> None:
    texts = [
        (1, "希望开个烹饪课"),
        (2, "能不能开烹饪课？"),
        (3, "想上烹饪班"),
        (3, "烹饪课！"),
        (4, "I wish for a cooking class"),
        (5, "Cooking classes please"),
        (6, "楼道灯坏了，希望修一下"),
        (7, "修一下楼道灯"),
        (8, "希望有免费体检"),
    ]
    for user_id, text in texts:
        await storage.save_wish(user_id, user_id, text)
        clock.advance(minutes=1)

    pools = await desk.wishes()

    assert [(pool.text, pool.count, pool.residents) for pool in pools] == [
        ("希望开个烹饪课", 4, 3),
        ("I wish for a cooking class", 2, 2),
        ("楼道灯坏了，希望修一下", 2, 2),
        ("希望有免费体检", 1, 1),
    ]
    assert pools[0].describe() == "希望开个烹饪课 ×4, from 3 residents"
    assert pools[0].refs == ["W0001", "W0002", "W0003", "W0004"]


async def test_wishes_filtered_by_status(desk: StaffDesk, storage: Storage) -> None:
    first = await storage.save_wish(1, 1, "希望开烹饪课")
    await storage.save_wish(2, 2, "烹饪课")
    await desk.set_wish_status(first.ref, "done", actor=ACTOR)
    (pool,) = await desk.wishes("done")
    assert pool.refs == [first.ref]
    with pytest.raises(StaffError, match="unknown wish status"):
        await desk.wishes("finished")


def test_unrelated_short_texts_stay_apart() -> None:
    wishes = [
        Item(f"W000{n}", "wish", text, "open", n, n, "2026-03-02T01:00:00Z")
        for n, text in enumerate(["书法班", "烹饪班", "象棋桌", "理发"], start=1)
    ]
    pools = pooling.pool_items(wishes)
    assert [pool.count for pool in pools] == [1, 1, 1, 1]


async def test_stats_on_known_data(desk: StaffDesk, storage: Storage, clock: Clock) -> None:
    # outside the window: 8 days before "now"
    await storage.record_event("answer", 1, "canteen.hours")
    await storage.save_question(1, 1, "很久以前的问题")
    clock.advance(days=2)
    for kind in ("answer", "answer", "answer", "suggest", "none", "none"):
        await storage.record_event(kind, 2)
    await storage.record_event("suggestion_click", 2, "canteen.hours")
    first = await storage.save_question(2, 2, "有没有理发")
    second = await storage.save_question(3, 3, "有没有理发服务？")
    third = await storage.save_question(4, 4, "能停车吗")
    await storage.save_question(5, 5, "理发有吗")
    await storage.save_wish(2, 2, "希望开烹饪课")
    clock.advance(hours=1)
    await desk.reply(first.ref, "周三有", actor=ACTOR)
    clock.advance(hours=2)
    await desk.reply(third.ref, "可以", actor=ACTOR)
    now = START + timedelta(days=8, hours=12)

    result = await desk.stats(7, now=now)

    figures = result.figures
    assert figures.questions_received == 6
    assert figures.answered_by_bot == 3
    assert result.bot_share == pytest.approx(0.5)
    assert figures.suggestion_clicks == 1
    assert figures.saved_for_staff == 4
    assert figures.answered_by_staff == 2
    assert figures.median_reply_seconds == pytest.approx(2 * 3600)  # 1h and 3h
    assert figures.wishes == 1
    top = result.top_unanswered[0]
    assert (top.count, top.refs) == (2, [second.ref, "Q0005"])
    text = "\n".join(result.lines("en"))
    assert "answered by the bot: 3 (50%)" in text
    assert "Median time to a staff reply: 2h" in text
    # the questions received add up: answered + suggested + not understood
    assert "Questions received: 6" in text and "offered suggestions: 1" in text
    assert "not understood, passed to staff: 2" in text
    assert "最近 7 天" in "\n".join(result.lines("zh"))
    assert result.as_json()["saved_for_staff"] == 4


async def test_export_is_utf8_with_bom_and_keeps_chinese(desk: StaffDesk, storage: Storage) -> None:
    await storage.touch_resident(7, display_name="王阿姨")
    item = await storage.save_question(7, 7, "食堂礼拜天开伐，几钿？", [("canteen.hours", 61.5)])
    await desk.reply(item.ref, "开的，12 块", actor=ACTOR)
    await storage.save_wish(8, 8, 'cooking class, "please"')

    data, count = await desk.export_csv()

    assert count == 2

    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [row["ref"] for row in rows] == ["Q0001", "W0001"]
    assert rows[0]["text"] == "食堂礼拜天开伐，几钿？"
    assert rows[0]["display_name"] == "王阿姨"
    assert rows[0]["replies"] == "开的，12 块"
    assert rows[0]["status"] == "answered"
    assert rows[0]["best_guesses"] == "canteen.hours (62)"
    assert rows[1]["text"] == 'cooking class, "please"'


async def test_export_never_hands_excel_a_live_formula(desk: StaffDesk, storage: Storage) -> None:
    formula = '=HYPERLINK("http://evil","点我")'
    await storage.touch_resident(7, display_name="@SUM(1+1)")
    item = await storage.save_question(7, 7, formula)
    await desk.reply(item.ref, "-1 块", actor=ACTOR)
    for text in ("+1 more bench", "\t=1+1", "\r=1+1", "想学做菜 =1+1"):
        await storage.save_wish(8, 8, text)

    data, _ = await desk.export_csv()

    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0]["text"] == "'" + formula
    assert rows[0]["display_name"] == "'@SUM(1+1)"
    assert rows[0]["replies"] == "'-1 块"
    assert rows[0]["user_id"] == "7"
    assert [row["text"] for row in rows[1:]] == [
        "'+1 more bench",
        "'\t=1+1",
        "'\r=1+1",
        "想学做菜 =1+1",  # a formula only where the cell starts
    ]


def test_pooled_wish_is_one_short_printable_line() -> None:
    pool = pooling.Pool(text="\x1b[31m想学做菜\x9b\n" + "很" * 5000, refs=["W0001"], residents=1)
    line = pool.describe()
    assert line.startswith("�想学做菜� 很很") and line.endswith("… ×1")
    assert len(line) <= pooling.SUMMARY_CHARS + len(" ×1")


async def test_forgotten_residents_leave_the_export(desk: StaffDesk, storage: Storage) -> None:
    await storage.save_question(7, 7, "我的问题")
    await storage.save_question(8, 8, "别人的问题")
    await storage.forget(7)
    rows = list(csv.DictReader(io.StringIO((await desk.export_csv())[0].decode("utf-8-sig"))))
    assert [row["text"] for row in rows] == ["别人的问题"]
    assert [item.text for item in await desk.inbox()] == ["别人的问题"]


async def test_teach_adds_the_question_to_the_overlay_and_answers_the_resident(
    desk: StaffDesk, storage: Storage, faq_file: Path
) -> None:
    overlay = desk.station.config.overlay_path
    item = await storage.save_question(7, 7, "饭堂  啥辰光开")

    result = await desk.teach(item.ref, "canteen.hours", actor=ACTOR)

    assert (result.entry_id, result.language, result.added) == ("canteen.hours", "zh", True)
    assert result.now_answered, "the phrasing is answered with the entry from now on"
    assert yaml.safe_load(overlay.read_text(encoding="utf-8")) == {
        "teach": {"canteen.hours": {"zh": ["饭堂 啥辰光开"]}}
    }
    assert "饭堂 啥辰光开" in load(faq_file, overlay=overlay).get("canteen.hours").questions["zh"]
    (told,) = await queued(storage)
    assert item.ref in told.text and "食堂每天 7:00 开门。" in told.text
    assert (await storage.get_item(item.ref)).status == "answered"
    again = await desk.teach(item.ref, "canteen.hours", actor=ACTOR)
    assert not again.added
    english = await storage.save_question(8, 8, "Is the canteen open on Sunday?")
    await desk.teach(english.ref, "canteen.hours", actor=ACTOR)
    taught = yaml.safe_load(overlay.read_text(encoding="utf-8"))["teach"]["canteen.hours"]
    assert taught == {"zh": ["饭堂 啥辰光开"], "en": ["Is the canteen open on Sunday?"]}


async def test_teach_refuses_unknown_entries_and_wishes(desk: StaffDesk, storage: Storage) -> None:
    overlay = desk.station.config.overlay_path
    item = await storage.save_question(7, 7, "饭堂啥辰光开")
    wish = await storage.save_wish(7, 7, "希望开烹饪课")
    with pytest.raises(StaffError, match=r"did you mean 'canteen\.hours'"):
        await desk.teach(item.ref, "canteen.hour", actor=ACTOR)
    with pytest.raises(StaffError, match="only questions"):
        await desk.teach(wish.ref, "canteen.hours", actor=ACTOR)
    assert not overlay.exists()


async def test_teach_leaves_a_broken_overlay_alone(desk: StaffDesk, storage: Storage) -> None:
    overlay = desk.station.config.overlay_path
    overlay.parent.mkdir(parents=True)
    broken = "teach:\n  canteen.hours: {zh: [食堂几点\n"
    overlay.write_text(broken, encoding="utf-8")
    item = await storage.save_question(7, 7, "饭堂啥辰光开")
    with pytest.raises(StaffError, match="cannot read the staff overlay"):
        await desk.teach(item.ref, "canteen.hours", actor=ACTOR)
    assert overlay.read_text(encoding="utf-8") == broken


async def test_teach_refused_by_the_loader_keeps_the_old_overlay(
    desk: StaffDesk, storage: Storage
) -> None:
    overlay = desk.station.config.overlay_path
    # another entry already has this phrasing: the loader refuses the same question twice
    item = await storage.save_question(7, 7, "怎么捐款")
    with pytest.raises(StaffError) as refused:
        await desk.teach(item.ref, "canteen.hours", actor=ACTOR)
    assert str(overlay) in str(refused.value)
    assert not overlay.exists()
    assert [p.name for p in overlay.parent.iterdir() if p.name.startswith(".overlay-")] == []
    assert await queued(storage) == [], "the resident is told nothing"


def test_traditional_characters_and_plurals_pool_with_their_plain_forms() -> None:
    texts = ["希望开烹饪课", "想上烹飪課！", "Cooking classes please", "a cooking class"]
    wishes = [
        Item(f"W000{n}", "wish", text, "open", n, n, "2026-03-02T01:00:00Z")
        for n, text in enumerate(texts, start=1)
    ]
    assert [pool.refs for pool in pooling.pool_items(wishes)] == [
        ["W0001", "W0002"],
        ["W0003", "W0004"],
    ]


def test_pooling_5000_items_compares_each_with_a_bounded_number_of_leaders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Linear, not quadratic: /wishes and /stats pool thousands of items without an n×n
    table. Counted, not timed: every key meets at most _CANDIDATE_LEADERS leaders."""
    import random

    rng = random.Random(5)
    alphabet = "书法烹饪象棋理发体检楼道灯电梯食堂血压补贴志愿者报名课程停车垃圾修漏水门口老人"
    topics = ["".join(rng.sample(alphabet, 5)) for _ in range(1500)]
    wishes = []
    for n in range(1, 5001):
        text = rng.choice(topics) + rng.choice(["", "吗", "！", "，谢谢"])
        wishes.append(Item(f"W{n:04d}", "wish", text, "open", n % 700, n, "2026-03-02T01:00:00Z"))
    compared: list[int] = []
    similarities = pooling._similarities

    def counting(key: str, leaders: list[str], threshold: float) -> object:
        compared.append(len(leaders))
        return similarities(key, leaders, threshold)

    monkeypatch.setattr(pooling, "_similarities", counting)
    pools = pooling.pool_items(wishes)

    assert sum(pool.count for pool in pools) == 5000
    assert len(pools) > 250  # every item against every leader: over half a million pairs
    assert max(compared) <= pooling._CANDIDATE_LEADERS
    assert sum(compared) <= 5000 * pooling._CANDIDATE_LEADERS
    assert len(compared) <= 5000  # one look-up per distinct text at most


def test_the_same_text_pools_together_and_costs_one_look_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    similarities = pooling._similarities
    monkeypatch.setattr(
        pooling,
        "_similarities",
        lambda key, leaders, threshold: calls.append(key) or similarities(key, leaders, threshold),
    )
    wishes = [
        Item(f"W{n:04d}", "wish", text, "open", n, n, f"2026-03-02T01:{n:02d}:00Z")
        for n, text in enumerate(["想学书法", "希望开烹饪课", "想学书法", "想学书法！"], start=1)
    ]
    pools = pooling.pool_items(wishes)
    assert [pool.refs for pool in pools] == [["W0001", "W0003", "W0004"], ["W0002"]]
    assert len(calls) == 1  # 希望开烹饪课 against 想学书法; the repeats are not compared again
