"""Several stations in one deployment (issue 14): the stations: list in config.yaml, a
resident's home station and the answers that follow it, items routed to their station's
staff, and staff of one station refused another's items on every front end."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosqlite
import pytest
import yaml
from aiohttp import web
from fake_telegram import TOKEN, running_bot
from fake_wechat import event_xml
from test_wechat_channel import running_wechat
from web_console import TEST_HASH_COST, api_login, client_for

from bot.accounts import Accounts
from bot.config import Config, ConfigError, load_config
from bot.core import Reply, Sender, Station, callback
from bot.messages import t
from bot.outbox import Outgoing
from bot.staff import Actor, StaffDesk, StaffError
from bot.storage import MIGRATIONS, Storage, apply_migrations
from faq.loader import FaqError, load
from handlers import staff_web
from handlers.cli import main as cli

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a regular working day
ALICE = Sender(user_id=7, chat_id=7, language_code="zh-hans")  # lives by station a
BOB = Sender(user_id=8, chat_id=8, language_code="zh-hans")  # lives by station b
STAFF_A, STAFF_B, DISTRICT = 901, 902, 900
GROUP_A, GROUP_B = -501, -502


def weekdays(*spans: str) -> dict[str, list[str]]:
    """The same hours Monday to Friday, closed at the weekend."""
    days = ("mon", "tue", "wed", "thu", "fri")
    return {day: list(spans) if day in days else [] for day in (*days, "sat", "sun")}


# Two stations: a opens in the morning, b in the afternoon and has no canteen.
STATIONS = [
    {
        "id": "a",
        "name": {"zh": "甲站", "en": "Station A"},
        "address": {"zh": "甲路1号", "en": "1 A Road"},
        "streets": ["甲路"],
        "phone": "021-0000 0001",
        "lat": 31.2645,
        "lon": 121.4935,
        "hours": weekdays("08:30-11:30"),
        "staff": {"user_ids": [STAFF_A], "chat_id": GROUP_A},
    },
    {
        "id": "b",
        "name": {"zh": "乙站", "en": "Station B"},
        "address": {"zh": "乙路2号", "en": "2 B Road"},
        "streets": ["乙路"],
        "phone": "021-0000 0002",
        "lat": 31.2590,
        "lon": 121.5012,
        "hours": weekdays("13:00-17:00"),
        "canteen": {},
        "staff": {"user_ids": [STAFF_B], "chat_id": GROUP_B},
    },
]


def write_config(tmp_path: Path, stations: list | None = None, **sections: object) -> Path:
    data = {
        "storage": {"path": str(tmp_path / "station.db")},
        "staff": {"user_ids": [DISTRICT]},
        "stations": STATIONS if stations is None else stations,
        **sections,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def district_config(tmp_path: Path, **changes: object) -> Config:
    config = load_config(write_config(tmp_path))
    return dataclasses.replace(config, **changes)


@pytest.fixture
async def district(tmp_path: Path, database: str | Path):
    """The bundled FAQ with two stations configured, the clock at Monday 10:00; on SQLite and
    on PostgreSQL (tests/conftest.py)."""
    url = {"storage_url": database} if isinstance(database, str) else {}
    station = await Station.create(district_config(tmp_path, **url), now=lambda: MONDAY_10)
    yield station
    await station.close()


@pytest.fixture
async def single(tmp_path: Path):
    """The bundled FAQ as one station (no stations: in the config)."""
    config = Config(storage_path=tmp_path / "one.db")
    station = await Station.create(config, now=lambda: MONDAY_10)
    yield station
    await station.close()


def data_of(reply: Reply) -> list[str]:
    return [button.data for row in reply.buttons for button in row]


async def queued(storage: Storage) -> list[Outgoing]:
    return [Outgoing.from_json(row.payload) for row in await storage.due_messages()]


async def choose(station: Station, sender: Sender, station_id: str) -> Reply:
    reply = await station.on_callback(sender, callback("home", station_id))
    assert reply is not None
    return reply


# --- configuration ----------------------------------------------------------------------


def test_stations_are_read_into_typed_sites(tmp_path: Path):
    config = load_config(write_config(tmp_path))
    a, b = config.stations
    assert (a.id, a.name("en"), a.place.phone) == ("a", "Station A", "021-0000 0001")
    assert a.staff_user_ids == frozenset({STAFF_A}) and a.staff_chat_id == GROUP_A
    assert [str(span.start) for span in a.data["hours"]["mon"]] == ["08:30:00"]
    assert b.data["canteen"].meals == () and "holiday_hours" not in b.data


def test_no_stations_is_one_station_as_before(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("storage: {path: station.db}\n", encoding="utf-8")
    assert load_config(path).stations == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"hours": weekdays("8:30-25:00")}, ": stations[1].hours.mon"),
        ({"lat": 200}, ": stations[1].lat: expected decimal degrees"),
        ({"id": "B Road"}, ": stations[1].id: use up to 32 lowercase"),
        ({"id": "a"}, ": stations[1].id: 'a' is listed twice"),
        ({"staff": {"user_ids": [STAFF_A]}}, f"{STAFF_A} is staff of 'a' already"),
        ({"colour": "red"}, ": stations[1].colour: unknown key"),
    ],
)
def test_a_mistake_in_a_station_names_file_line_and_key(tmp_path: Path, change, expected):
    stations = [STATIONS[0], {**STATIONS[1], **change}]
    path = write_config(tmp_path, stations)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:") and expected in message
    assert "\n" not in message


# --- one station: nothing changes --------------------------------------------------------


async def test_one_station_never_asks_for_a_station(single: Station):
    reply = await single.on_start(ALICE)
    assert reply.text == t("start", "zh")
    assert reply.keyboard is not None and not reply.buttons
    assert [t("home.button", "zh")] not in reply.keyboard
    hours = await single.on_callback(ALICE, callback("ans", "station.hours"))
    assert t("home.ask_first", "zh") not in hours.text
    assert not any(data.startswith("1:home:") for data in data_of(hours))
    # "换驿站" is a question like any other, and /station the help
    assert (await single.on_home(ALICE)).text == (await single.on_help(ALICE)).text


async def test_one_station_saves_items_for_no_station(single: Station):
    reply = await single.on_wish(ALICE, "希望开个书法班")
    assert reply.saved is not None and reply.saved.station_id is None


async def test_one_configured_station_is_everyone_s_without_asking(tmp_path: Path):
    config = load_config(write_config(tmp_path, STATIONS[:1]))
    station = await Station.create(config, now=lambda: MONDAY_10)
    try:
        assert (await station.on_start(ALICE)).buttons == []
        hours = await station.on_callback(ALICE, callback("ans", "station.hours"))
        assert t("live.open_now", "zh", until="11:30") in hours.text
        saved = (await station.on_wish(ALICE, "希望开个书法班")).saved
        assert saved is not None and saved.station_id == "a"
        desk = StaffDesk(station)
        # nothing to keep apart: its staff see everything
        assert desk.scope(Actor("telegram", str(STAFF_A), station="a")) is None
    finally:
        await station.close()


# --- the home station ---------------------------------------------------------------------


async def test_start_asks_once_for_the_home_station_with_big_buttons(district: Station):
    first = await district.on_start(ALICE)
    assert t("home.ask", "zh") in first.text
    assert data_of(first) == [callback("home", "a"), callback("home", "b")]
    assert [button.label for row in first.buttons for button in row] == ["甲站", "乙站"]
    chosen = await choose(district, ALICE, "a")
    assert chosen.text == t("home.set", "zh", name="甲站")
    assert chosen.keyboard is not None and [t("home.button", "zh")] in chosen.keyboard
    again = await district.on_start(ALICE)
    assert again.buttons == [] and t("home.ask", "zh") not in again.text


async def test_hours_menu_and_address_follow_the_home_station(district: Station):
    await choose(district, ALICE, "a")
    await choose(district, BOB, "b")
    hours_a = await district.on_callback(ALICE, callback("ans", "station.hours"))
    hours_b = await district.on_callback(BOB, callback("ans", "station.hours"))
    assert t("live.open_now", "zh", until="11:30") in hours_a.text
    assert t("live.not_yet", "zh", opens="13:00") in hours_b.text
    menu_b = await district.on_callback(BOB, callback("ans", "canteen.menu"))
    assert menu_b.text == "\n".join(
        [t("live.no_canteen", "zh", name="乙站"), t("home.canteens_at", "zh", names="甲站")]
    )
    assert data_of(menu_b)[0].startswith("1:fb:+:")  # 👍 / 👎 as under any answer
    menu_a = await district.on_callback(ALICE, callback("ans", "canteen.menu"))
    assert t("live.no_canteen", "zh", name="甲站") not in menu_a.text
    address_b = await district.on_callback(BOB, callback("ans", "station.address"))
    assert address_b.text.startswith(t("live.home_branch", "zh", name="乙站"))
    assert "乙路2号" in address_b.text and "021-0000 0002" in address_b.text
    # the shared wording names another station's address and hours: not shown to them
    shared = district.kb.get("station.address").answer["zh"]
    assert shared not in address_b.text
    assert hours_b.text.startswith(t("live.week_title", "zh", name="乙站"))
    assert "周一至周五：开放 13:00–17:00" in hours_b.text
    assert "周六、周日：休息" in hours_b.text
    assert district.kb.get("station.hours").answer["zh"] not in hours_b.text


async def test_a_resident_without_a_station_is_asked_before_hours(district: Station):
    reply = await district.on_callback(ALICE, callback("ans", "station.hours"))
    assert reply.text.startswith(district.kb.get("station.hours").answer["zh"])
    assert t("home.ask_first", "zh") in reply.text
    assert data_of(reply)[:2] == [callback("home", "a"), callback("home", "b")]
    # no one station's hours for everybody
    assert t("live.open_now", "zh", until="11:30") not in reply.text


async def test_a_shared_location_makes_the_nearest_station_home(district: Station):
    reply = await district.on_location(BOB, 31.2591, 121.5010)  # by station b
    assert reply is not None
    assert t("home.nearest_set", "zh", name="乙站") in reply.text
    stored = await district.storage.find_resident("telegram", "8")
    assert stored is not None and stored.station_id == "b"


async def test_the_home_station_can_be_changed_by_word_or_button(district: Station):
    await choose(district, ALICE, "a")
    for asked, language in (
        ("change station", "en"),
        ("换驿站", "zh"),
        (t("home.button", "zh"), "zh"),
    ):
        reply = await district.on_text(ALICE, asked)
        assert reply is not None
        name = "甲站" if language == "zh" else "Station A"
        assert t("home.current", language, name=name) in reply.text
        assert data_of(reply) == [callback("home", "a"), callback("home", "b")]
    await choose(district, ALICE, "b")
    hours = await district.on_callback(ALICE, callback("ans", "station.hours"))
    assert t("live.not_yet", "zh", opens="13:00") in hours.text


async def test_help_says_how_to_change_the_station(district: Station, single: Station):
    assert (await district.on_help(ALICE)).text.endswith(t("home.help", "zh"))
    assert t("home.help", "zh") not in (await single.on_help(ALICE)).text


async def test_an_unknown_station_button_has_expired(district: Station):
    reply = await district.on_callback(ALICE, callback("home", "zzz"))
    assert reply.text == t("expired", "zh")


# --- routing: items reach their station's staff ------------------------------------------


async def test_items_are_saved_for_the_home_station_and_its_staff_told(district: Station):
    await choose(district, ALICE, "a")
    await choose(district, BOB, "b")
    wish_a = (await district.on_wish(ALICE, "希望开个书法班")).saved
    wish_b = (await district.on_wish(BOB, "想学做菜")).saved
    assert (wish_a.station_id, wish_b.station_id) == ("a", "b")
    notices = [m for m in await queued(district.storage) if m.kind == "notice"]
    assert {(m.ref, m.address) for m in notices} == {
        (wish_a.ref, str(GROUP_A)),
        (wish_b.ref, str(GROUP_B)),
    }
    assert t("staffui.station_label", "zh", name="甲站") in notices[0].text


async def test_items_of_a_resident_without_a_station_go_to_district_staff(district: Station):
    saved = (await district.on_wish(ALICE, "希望开个书法班")).saved
    assert saved.station_id is None
    notices = [m for m in await queued(district.storage) if m.kind == "notice"]
    assert [m.address for m in notices] == [str(DISTRICT)]


# --- isolation in the staff core -------------------------------------------------------------


async def two_items(station: Station) -> tuple[str, str]:
    await choose(station, ALICE, "a")
    await choose(station, BOB, "b")
    a = (await station.on_wish(ALICE, "希望开个书法班")).saved
    b = (await station.on_wish(BOB, "想学做菜")).saved
    return a.ref, b.ref


async def test_staff_of_one_station_see_and_act_on_its_items_only(district: Station):
    ref_a, ref_b = await two_items(district)
    desk = StaffDesk(district)
    staff_a = desk.telegram_actor(STAFF_A, "A", "en")
    assert staff_a.station == "a"
    assert [item.ref for item in await desk.inbox(actor=staff_a)] == [ref_a]
    assert (await desk.item(ref_a, actor=staff_a)).ref == ref_a
    refused = t("staffui.other_station", "en", ref=ref_b, station="Station A")
    with pytest.raises(StaffError, match=re.escape(refused)):
        await desk.item(ref_b, actor=staff_a)
    for act in (
        desk.reply(ref_b, "好的", actor=staff_a),
        desk.set_wish_status(ref_b, "accepted", actor=staff_a),
    ):
        with pytest.raises(StaffError, match="another station"):
            await act
    assert (await district.storage.get_item(ref_b)).status == "open"
    pools = await desk.wishes(actor=staff_a)
    assert [pool.refs for pool in pools] == [[ref_a]]


async def test_figures_and_exports_per_station_and_for_the_district(district: Station):
    ref_a, _ = await two_items(district)
    desk = StaffDesk(district)
    staff_a = desk.telegram_actor(STAFF_A, "A", "en")
    district_staff = desk.telegram_actor(DISTRICT, "D", "en")
    assert district_staff.station is None
    figures_a = await desk.stats(actor=staff_a)
    assert figures_a.figures.wishes == 1
    assert figures_a.lines("en")[1] == t("staffui.station_label", "en", name="Station A")
    assert figures_a.as_json()["station"] == "a"
    assert (await desk.stats(actor=district_staff)).figures.wishes == 2
    data, rows = await desk.export_csv(actor=staff_a)
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == 1 and [(r["ref"], r["station"]) for r in table] == [(ref_a, "a")]
    _, rows = await desk.export_csv(actor=district_staff)
    assert rows == 2


# --- isolation on every front end ------------------------------------------------------------


async def test_telegram_staff_of_station_a_are_refused_station_b_items(tmp_path: Path):
    config = district_config(tmp_path)
    overrides = {f.name: getattr(config, f.name) for f in dataclasses.fields(Config)}
    for name in ("base_url", "base_file_url", "token", "config_path", "key_lines"):
        overrides.pop(name)
    async with running_bot(tmp_path, **overrides) as (fake, station):
        ref_a, ref_b = await two_items(station)
        # each station's group hears of its own items only
        for group, ref, other in ((GROUP_A, ref_a, ref_b), (GROUP_B, ref_b, ref_a)):
            notices = await fake.wait_for(lambda group=group: fake.sent(group), what="notice")
            assert ref in notices[0].text and other not in notices[0].text
        # station b's group is not a place for station a's staff
        await fake.replies(
            fake.command("inbox", user_id=STAFF_A, chat_id=GROUP_B, chat_type="supergroup")
        )
        said = await fake.wait_for(
            lambda: [c for c in fake.sent(GROUP_B) if c.text == t("staffui.not_here", "zh")],
            what="not here",
        )
        assert said
        await fake.replies(
            fake.command(
                "reply", f"{ref_b} 周三有课", user_id=STAFF_A, chat_id=STAFF_A, chat_type="private"
            )
        )
        said = await fake.wait_for(lambda: fake.sent(STAFF_A), what="refusal")
        refusal = t("staffui.other_station", "zh", ref=ref_b, station="甲站")
        assert refusal in said[-1].text
        assert (await station.storage.get_item(ref_b)).status == "open"
        assert not [call for call in fake.sent(BOB.chat_id) if "周三有课" in (call.text or "")]


async def test_cli_staff_of_station_a_are_refused_station_b_items(tmp_path: Path, capsys):
    path = write_config(tmp_path, telegram={"token": TOKEN})
    station = await Station.create(load_config(path), now=lambda: MONDAY_10)
    try:
        ref_a, ref_b = await two_items(station)
    finally:
        await station.close()
    capsys.readouterr()
    config = ["--config", str(path)]
    code = await_cli("reply", *config, "--station", "a", ref_b, "好的")
    assert code == 1
    assert "another station" in capsys.readouterr().err
    assert await_cli("inbox", *config, "--station", "a") == 0
    listed = capsys.readouterr().out
    assert ref_a in listed and ref_b not in listed
    assert await_cli("inbox", *config) == 0  # the district sees both
    listed = capsys.readouterr().out
    assert ref_a in listed and ref_b in listed
    assert await_cli("inbox", *config, "--station", "zzz") == 2
    assert "no station 'zzz'" in capsys.readouterr().err


def await_cli(*argv: str) -> int:
    """Runs `stationbot ARGV` in a thread: the commands run their own event loop."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(cli, list(argv)).result()


async def test_web_accounts_of_station_a_are_refused_station_b_items(tmp_path: Path):
    config = district_config(tmp_path)
    station = await Station.create(config, now=lambda: MONDAY_10)
    try:
        ref_a, ref_b = await two_items(station)
        desk = StaffDesk(station)
        accounts = Accounts(station.storage, hash_cost=TEST_HASH_COST)
        await accounts.add("li", "correct-horse-battery", "a")
        await accounts.add("zhao", "correct-horse-battery")
        app = web.Application()
        staff_web.register(app, lambda: desk, hash_cost=TEST_HASH_COST)
        async with client_for(app) as client:
            csrf = await api_login(client, "li", "correct-horse-battery")
            listed = await (await client.get("/api/items")).json()
            assert [(item["ref"], item["station"]) for item in listed["items"]] == [(ref_a, "a")]
            inbox = await (await client.get("/inbox")).text()
            assert "li · 甲站" in inbox and "想学做菜" not in inbox
            response = await client.get(f"/api/items/{ref_b}")
            assert response.status == 400
            assert "属于另一个驿站" in (await response.json())["error"]
            response = await client.post(
                f"/api/items/{ref_b}/reply", json={"text": "好的"}, headers={"X-CSRF-Token": csrf}
            )
            assert response.status == 400
            page = await client.get(f"/items/{ref_b}")
            assert page.status == 400 and "想学做菜" not in await page.text()
            export = await (await client.get("/export.csv")).text()
            assert ref_a in export and ref_b not in export
        async with client_for(app) as client:
            await api_login(client, "zhao", "correct-horse-battery")
            listed = await (await client.get("/api/items")).json()
            assert sorted(item["ref"] for item in listed["items"]) == [ref_a, ref_b]
            page = await (await client.get(f"/items/{ref_b}")).text()
            assert "想学做菜" in page and "乙站" in page  # the district sees whose it is
        assert (await station.storage.get_item(ref_b)).status == "open"
    finally:
        await station.close()


def test_staff_add_takes_a_station(tmp_path: Path, capsys):
    path = write_config(tmp_path)
    assert cli(["staff", "add", "li", "--station", "a", "--config", str(path)]) == 0
    assert "added for station a" in capsys.readouterr().out
    assert cli(["staff", "list", "--config", str(path)]) == 0
    assert "station a" in capsys.readouterr().out
    assert cli(["staff", "add", "wu", "--station", "zzz", "--config", str(path)]) == 2


# --- a station's own FAQ entries -----------------------------------------------------------

STATION_A_FAQ = """
entries:
  - id: station.parking
    questions:
      zh: [甲站停车场在哪]
      en: [Where can I park at station A?]
    answer:
      zh: 甲站后门有停车场。
      en: Park behind station A.
  - id: canteen.prices
    questions:
      zh: [饭菜多少钱]
      en: [How much is a meal?]
    answer:
      zh: 甲站的饭菜 12 元一份。
      en: A meal at station A costs 12 yuan.
  - id: station.hours
    live: opening_hours
    questions:
      zh: [甲站几点开门]
      en: [When does station A open?]
    answer:
      zh: 甲站工作日上午开门，下午去乙站。
      en: Station A opens on weekday mornings; in the afternoon go to station B.
"""


async def test_a_station_s_own_entries_answer_its_residents_only(tmp_path: Path):
    folder = tmp_path / "station-a-faq"
    folder.mkdir()
    (folder / "entries.yaml").write_text(STATION_A_FAQ, encoding="utf-8")
    stations = [{**STATIONS[0], "faq": str(folder)}, STATIONS[1]]
    config = load_config(write_config(tmp_path, stations))
    station = await Station.create(config, now=lambda: MONDAY_10)
    try:
        await choose(station, ALICE, "a")
        await choose(station, BOB, "b")
        parking = await station.on_text(ALICE, "甲站停车场在哪")
        assert parking.text.startswith("甲站后门有停车场。")
        elsewhere = await station.on_text(BOB, "甲站停车场在哪")
        assert "后门" not in elsewhere.text
        # same id: station a's answer replaces the shared one for its residents
        prices_a = await station.on_callback(ALICE, callback("ans", "canteen.prices"))
        prices_b = await station.on_callback(BOB, callback("ans", "canteen.prices"))
        assert prices_a.text.startswith("甲站的饭菜 12 元一份。")
        assert prices_b.text.startswith(station.kb.get("canteen.prices").answer["zh"])
        # its own wording of a per-station answer is kept, with the live line under it
        hours_a = await station.on_callback(ALICE, callback("ans", "station.hours"))
        assert hours_a.text.startswith("甲站工作日上午开门，下午去乙站。")
        assert t("live.open_now", "zh", until="11:30") in hours_a.text
        # staff trying a question (the web console's test pane) see what those residents get
        desk = StaffDesk(station)
        assert desk.try_question("甲站停车场在哪", "a").id == "station.parking"
        assert desk.try_question("甲站停车场在哪", "b").id != "station.parking"
        assert desk.try_question("甲站停车场在哪").id != "station.parking"
    finally:
        await station.close()


# --- the same on WeChat: numbered choices, words for commands ------------------------------


async def test_wechat_residents_choose_their_station_by_number(tmp_path: Path):
    async with running_wechat(tmp_path, stations=STATIONS) as bot:
        greeting = await bot.reply_to(event_xml("subscribe", create_time=int(time.time())))
        assert t("home.ask", "zh") in greeting
        assert "1. 甲站" in greeting and "2. 乙站" in greeting
        chosen = await bot.say("2")
        assert chosen.startswith(t("home.set", "zh", name="乙站"))
        change = await bot.say("换驿站")
        assert t("home.current", "zh", name="乙站") in change
        await bot.say("许愿 想学做菜")
        items = await bot.station.storage.all_items()
        assert [(item.kind, item.station_id) for item in items] == [("wish", "b")]


# --- storage: m008 on a database of the last release ---------------------------------------


async def test_a_database_before_stations_upgrades_to_items_of_no_station(tmp_path: Path):
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as old:
        await apply_migrations(old, [m for m in MIGRATIONS if m.__name__ != "m008_stations"])
        await old.execute(
            "INSERT INTO wishes (user_id, chat_id, text, created_at, updated_at)"
            " VALUES (7, 7, '想学做菜', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')"
        )
    async with Storage.open(path) as storage:
        [item] = await storage.all_items()
        assert item.station_id is None  # the district's until someone says otherwise
        assert await storage.all_items(station="a") == []
        assert len(await storage.open_items(station=None)) == 1
        account = await storage.add_staff_account("li", "hash", "a")
        assert (await storage.staff_accounts())[0].station_id == account.station_id == "a"


async def test_the_review_page_of_a_station_account_shows_its_residents_only(tmp_path: Path):
    station = await Station.create(district_config(tmp_path), now=lambda: MONDAY_10)
    try:
        await choose(station, ALICE, "a")
        await choose(station, BOB, "b")
        for sender, question in ((ALICE, "甲站的门开着吗"), (BOB, "乙站周三有课吗")):
            await station.on_text(sender, question)  # saved for staff: open questions
            answered = await station.on_text(sender, "食堂几点开门")
            thumbs_down = next(d for d in data_of(answered) if d.startswith("1:fb:-:"))
            await station.on_callback(sender, thumbs_down)
        desk = StaffDesk(station)
        await Accounts(station.storage, hash_cost=TEST_HASH_COST).add(
            "li", "correct-horse-battery", "a"
        )
        app = web.Application()
        staff_web.register(app, lambda: desk, hash_cost=TEST_HASH_COST)
        async with client_for(app) as client:
            await api_login(client, "li", "correct-horse-battery")
            review = await (await client.get("/api/review")).json()
        texts = {text for group in review["groups"] for text in group["texts"]}
        assert "甲站的门开着吗" in texts and "乙站周三有课吗" not in texts
        feedback_users = {
            row.user_id
            for group in review["groups"]
            for row in await station.storage.feedback_rows(group["feedback_ids"])
        }
        alice = await station.storage.find_resident("telegram", "7")
        assert feedback_users == {alice.user_id}
    finally:
        await station.close()


def test_a_station_faq_is_checked_like_any_faq(tmp_path: Path):
    twice = STATION_A_FAQ + STATION_A_FAQ.replace("entries:\n", "")
    path = tmp_path / "a.yaml"
    path.write_text(twice, encoding="utf-8")
    with pytest.raises(FaqError, match="duplicate id"):
        load(station_faq=path)
    path.write_text(STATION_A_FAQ, encoding="utf-8")
    kb = load(station_faq=path)
    assert kb.get("station.parking") is not None
    assert kb.get("canteen.prices").answer["zh"] == "甲站的饭菜 12 元一份。"
    assert len(kb.entries) == len(load().entries) + 1
