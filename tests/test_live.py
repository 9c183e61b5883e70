"""Live answers (bot/live.py) on the bundled station data: hours, holidays, meals, branches."""

from __future__ import annotations

import copy
import dataclasses
import functools
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot import live
from faq import loader
from faq.model import StationInfo, TimeRange

STATION_YAML = Path(__file__).resolve().parents[1] / "faq" / "data" / "station.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# a point a few dozen metres from 天宝路881号
NEXT_TO_TIANBAO_ROAD = (31.2648, 121.4939)


def raw_station() -> dict:
    """The `station:` mapping of faq/data/station.yaml as YAML reads it."""
    return yaml.safe_load(STATION_YAML.read_text(encoding="utf-8"))["station"]


@pytest.fixture(scope="module")
def raw() -> dict:
    return raw_station()


@functools.cache
def bundled_station() -> StationInfo:
    """The bundled station data as the loader builds it for the bot."""
    return loader.parse_station(raw_station())


@pytest.fixture(scope="module")
def station() -> StationInfo:
    return bundled_station()


def edited(raw: dict, change) -> StationInfo:
    """The bundled station data with `change(mapping)` applied, through the loader's checks."""
    data = copy.deepcopy(raw)
    change(data)
    return loader.parse_station(data)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def test_station_file_has_the_agreed_shape(raw):
    station = raw
    assert station["timezone"] == "Asia/Shanghai"
    assert set(station["hours"]) == set(live.WEEKDAYS)
    assert station["canteen"]["meals"]["breakfast"] == "07:00-09:00"  # seed: queue from 7:00
    assert set(station["canteen"]["menu"]) == set(live.WEEKDAYS)
    for day_menu in station["canteen"]["menu"].values():
        assert set(day_menu) == set(live.MEALS)
        for dishes in day_menu.values():
            assert 3 <= len(dishes["zh"]) <= 4
            assert len(dishes["zh"]) == len(dishes["en"])
    assert len(station["branches"]) == 5  # seed: five 市民驿站 in 嘉兴路街道
    first = station["branches"][0]
    assert "天宝路881号二楼" in first["address"]["zh"]
    assert "第一分站" in first["name"]["zh"]
    positions = {(b["lat"], b["lon"]) for b in station["branches"]}
    assert len(positions) == 5
    for lat, lon in positions:
        assert live.distance_m(lat, lon, 31.26, 121.49) < 2000


def test_open_on_a_tuesday_morning(station):
    now = at(2026, 3, 10, 9, 15)
    assert now.weekday() == 1
    zh = live.opening_status(station, now, "zh")
    assert zh.startswith("现在开着")
    assert "11:30 关门" in zh
    assert "8:30–11:30、13:00–17:00" in zh
    assert live.opening_status(station, now, "en").startswith("Open now, until 11:30")


def test_lunch_break_counts_as_closed(station):
    now = at(2026, 3, 10, 12, 0)
    assert live.opening_status(station, now, "zh").startswith("现在午休中，13:00 再开")
    assert "lunch break" in live.opening_status(station, now, "en")


def test_before_opening_says_when_it_opens_today(station):
    assert live.opening_status(station, at(2026, 3, 10, 7, 45), "zh").startswith(
        "现在还没开门，今天 8:30 开门"
    )


def test_closed_on_sunday_next_opening_monday_morning(station):
    now = at(2026, 3, 8, 10, 0)
    assert now.weekday() == 6
    zh = live.opening_status(station, now, "zh")
    assert zh.startswith("现在不开门")
    assert "下次开门：明天 周一 8:30" in zh
    assert "今天（周日）休息" in zh
    assert "Monday 8:30" in live.opening_status(station, now, "en")
    assert not live.is_open_day(station, now.date())


def test_saturday_afternoon_points_to_monday(station):
    now = at(2026, 3, 7, 14, 0)
    assert now.weekday() == 5
    assert "下次开门：周一 8:30" in live.opening_status(station, now, "zh")


def test_closed_on_national_day_even_on_a_weekday(station):
    national_day = date(2026, 10, 1)
    assert national_day.weekday() == 3  # a Thursday, normally open
    assert chinese_calendar.is_holiday(national_day)
    assert not live.is_open_day(station, national_day)
    assert live.plan_for(station, national_day).kind == "holiday"
    zh = live.opening_status(station, at(2026, 10, 1, 10), "zh")
    assert zh.startswith("现在不开门")
    assert "国庆节" in zh
    # the whole Golden Week is off: next opening is Thursday 8 October, shown with its date
    assert "10月8日 周四 8:30" in zh
    en = live.opening_status(station, at(2026, 10, 1, 10), "en")
    assert "National Day" in en
    assert "Thursday 8 October, 8:30" in en


def _adjusted_weekend_workdays(year: int) -> list[date]:
    days = chinese_calendar.get_workdays(date(year, 1, 1), date(year, 12, 31))
    return [day for day in days if day.weekday() >= 5]


def test_open_on_an_adjusted_working_day(station):
    adjusted = _adjusted_weekend_workdays(2026)
    assert date(2026, 10, 10) in adjusted  # Saturday worked in exchange for National Day
    assert date(2026, 10, 10).weekday() == 5
    for day in adjusted:
        assert live.hours_for(station, day) == live.hours_for(station, date(2026, 3, 9))
        assert live.plan_for(station, day).kind == "adjusted_workday"
    sunday = next(day for day in adjusted if day.weekday() == 6)
    zh = live.opening_status(station, at(sunday.year, sunday.month, sunday.day, 14), "zh")
    assert zh.startswith("现在开着，17:00 关门")
    assert "调休上班日" in zh


def test_holiday_hours_apply_on_statutory_holidays(raw):
    open_on_holidays = edited(raw, lambda data: data.update(holiday_hours=["10:00-12:00"]))
    assert live.hours_for(open_on_holidays, date(2026, 10, 3))[0].start == time(10, 0)
    text = live.opening_status(open_on_holidays, at(2026, 10, 3, 11), "zh")
    assert text.startswith("现在开着，12:00 关门")


def test_closed_and_open_dates_override_the_calendar(raw):
    # YAML reads unquoted dates as dates
    station = edited(
        raw, lambda data: data.update(closed_dates=["2026-03-10"], open_dates=[date(2026, 3, 8)])
    )
    assert live.opening_status(station, at(2026, 3, 10, 9), "zh").startswith("现在不开门")
    assert "今天临时休息" in live.opening_status(station, at(2026, 3, 10, 9), "zh")
    assert live.opening_status(station, at(2026, 3, 8, 9), "zh").startswith("现在开着")


def test_unknown_year_falls_back_to_weekday_rules(station):
    monday, sunday = date(2100, 3, 1), date(2100, 3, 7)
    assert (monday.weekday(), sunday.weekday()) == (0, 6)
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_holiday(monday)
    assert live.is_open_day(station, monday)
    assert not live.is_open_day(station, sunday)
    assert not live.plan_for(station, monday).calendar_known
    zh = live.opening_status(station, at(2100, 3, 7, 10), "zh")
    assert "下次开门：明天 周一 8:30" in zh
    assert "2100年的节假日安排还不知道" in zh


def test_now_in_another_timezone_is_read_as_station_time(station):
    utc_now = datetime(2026, 3, 10, 1, 15, tzinfo=UTC)  # 9:15 in Shanghai
    assert live.opening_status(station, utc_now, "en").startswith("Open now")


def test_canteen_serves_lunch_at_noon(station):
    zh = live.canteen_status(station, at(2026, 3, 11, 12), "zh")
    assert zh.startswith("现在是午餐时间（11:00–13:00）")
    assert len(zh.splitlines()) == 1
    en = live.canteen_status(station, at(2026, 3, 11, 12), "en")
    assert en.startswith("The canteen is serving lunch now")


def test_canteen_between_meals_and_after_dinner(station):
    assert "下一顿：晚餐 17:00–18:30" in live.canteen_status(station, at(2026, 3, 11, 14), "zh")
    assert "Tomorrow breakfast starts at 7:00" in live.canteen_status(
        station, at(2026, 3, 11, 20), "en"
    )


def test_todays_menu_on_a_wednesday_in_both_languages(raw, station):
    now = at(2026, 3, 11, 10)
    assert now.weekday() == 2
    wednesday = raw["canteen"]["menu"]["wed"]
    zh = live.todays_menu(station, now, "zh")
    assert zh.splitlines()[0] == "今天（周三）的菜单："
    assert "午餐（11:00–13:00）：" + "、".join(wednesday["lunch"]["zh"]) in zh
    en = live.todays_menu(station, now, "en")
    assert en.splitlines()[0] == "Today's menu (Wednesday):"
    assert "Lunch (11:00–13:00): " + ", ".join(wednesday["lunch"]["en"]) in en
    assert "红烧" not in en


def test_a_day_without_menu_says_so(raw):
    station = edited(raw, lambda data: data["canteen"]["menu"].pop("wed"))
    assert live.todays_menu(station, at(2026, 3, 11, 10), "zh") == "今天（周三）没有菜单。"
    assert live.todays_menu(station, at(2026, 3, 11, 10), "en") == (
        "There is no menu for today (Wednesday)."
    )


def test_nearest_branch_next_to_tianbao_road_is_the_first_branch(station):
    ranked = live.branches_by_distance(station, *NEXT_TO_TIANBAO_ROAD)
    assert ranked[0][1].id == "tianbao"
    zh = live.nearest_branches(station, *NEXT_TO_TIANBAO_ROAD, "zh")
    assert zh.splitlines()[1].startswith("嘉兴路街道第一分站（天宝路），约 ")
    assert "地址：虹口区天宝路881号二楼" in zh
    assert "电话：" in zh
    en = live.nearest_branches(station, *NEXT_TO_TIANBAO_ROAD, "en")
    assert "Branch 1 (Tianbao Road), about " in en
    assert en.count("Address:") == 1


def test_nearest_branches_lists_distances_nearest_first(station):
    text = live.nearest_branches(station, *NEXT_TO_TIANBAO_ROAD, "en", limit=5)
    names = [
        line.split(". ", 1)[1].split(",")[0] for line in text.splitlines() if line[0].isdigit()
    ]
    expected = [b.name.en for _, b in live.branches_by_distance(station, *NEXT_TO_TIANBAO_ROAD)]
    assert names == expected
    assert text.splitlines()[0] == "The 5 nearest stations:"


def test_distance_wording_in_metres_and_kilometres(station):
    far = live.nearest_branches(station, 31.2304, 121.4737, "zh")  # People's Square, ~4 km away
    assert " 公里" in far
    assert "约 " in live.nearest_branches(station, *NEXT_TO_TIANBAO_ROAD, "zh")
    assert " m\n" in live.nearest_branches(station, *NEXT_TO_TIANBAO_ROAD, "en")


def test_branch_note_is_shown_when_present(raw):
    note = {"zh": "社区食堂在这里", "en": "The canteen is here"}
    station = edited(raw, lambda data: data["branches"][0].update(note=note))
    assert "社区食堂在这里" in live.nearest_branches(station, *NEXT_TO_TIANBAO_ROAD, "zh")


@given(
    lat=st.floats(min_value=31.20, max_value=31.32),
    lon=st.floats(min_value=121.43, max_value=121.55),
)
def test_branches_are_always_sorted_by_distance(lat, lon):
    station = bundled_station()
    distances = [meters for meters, _ in live.branches_by_distance(station, lat, lon)]
    assert distances == sorted(distances)
    assert len(distances) == 5


def test_branches_without_location_lists_all_and_asks_for_location(station):
    zh = live.LIVE_ANSWERS["branches"](station, at(2026, 3, 11, 10), "zh")
    assert zh.splitlines()[0] == "共有 5 个市民驿站："
    assert sum(line[:2] in {"1.", "2.", "3.", "4.", "5."} for line in zh.splitlines()) == 5
    assert zh.splitlines()[-1] == "发送您的位置，就能找到离您最近的驿站。"
    en = live.LIVE_ANSWERS["branches"](station, at(2026, 3, 11, 10), "en")
    assert en.endswith("Send your location to find the nearest one.")


def test_every_live_name_answers_in_both_languages(station):
    assert set(live.LIVE_ANSWERS) == set(loader.LIVE_NAMES)
    for name, answer in live.LIVE_ANSWERS.items():
        if name == "branch_address":  # adds nothing unless a street is named
            continue
        for lang in ("zh", "en"):
            assert answer(station, at(2026, 3, 11, 10), lang).strip()


def test_missing_station_data_raises_one_line_error(station):
    with pytest.raises(live.LiveDataError, match=r"station\.hours") as error:
        live.opening_status(StationInfo(), at(2026, 3, 10, 9), "zh")
    assert "\n" not in str(error.value)
    with pytest.raises(live.LiveDataError, match="branches"):
        live.nearest_branches(StationInfo(), 31.26, 121.49, "zh")
    with pytest.raises(live.LiveDataError, match="meal"):
        live.canteen_status(StationInfo(), at(2026, 3, 10, 9), "zh")
    with pytest.raises(ValueError, match="not a map position"):
        live.nearest_branches(station, 95.0, 121.49, "zh")


def test_bundled_knowledge_base_carries_the_parsed_station(station):
    kb = loader.load()
    assert dataclasses.replace(kb.station, source="") == dataclasses.replace(station, source="")
    assert kb.station.source == "faq/data/station.yaml:18"
    # already typed: the live answers compute with times, not with text
    assert kb.station.hours["tue"][0] == TimeRange(time(8, 30), time(11, 30))
    assert isinstance(kb.station.canteen.meals[0].hours.start, time)


def test_hours_without_leading_zero_work_at_run_time(raw):
    station = edited(raw, lambda data: data["hours"].update(tue=["8:30-11:30", "13:00-17:00"]))
    zh = live.opening_status(station, at(2026, 3, 10, 7, 45), "zh")
    assert zh.startswith("现在还没开门，今天 8:30 开门")


def test_until_midnight_is_refused_by_the_same_parser(raw):
    with pytest.raises(loader.FaqError, match=r"station\.hours\.tue\[1\]'.*23:59"):
        edited(raw, lambda data: data["hours"].update(tue=["08:30-11:30", "13:00-24:00"]))
    late = edited(raw, lambda data: data["hours"].update(tue=["08:30-11:30", "13:00-23:59"]))
    assert live.opening_status(late, at(2026, 3, 10, 23, 30), "zh").startswith("现在开着，23:59")


# --- a branch named by its street --------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "branch_id"),
    [
        ("新港路的驿站在哪", "xingang"),
        ("新港路那个驿站几号", "xingang"),
        ("Where is the station on Xingang Road?", "xingang"),
        ("xingang rd station address", "xingang"),
        ("海拉尔路上有驿站伐", "hailar"),
        ("嘉兴路的驿站在哪里", "jiaxing"),
        ("株洲路上有驿站吗", None),  # a street, but no branch on it
        ("嘉兴路街道有几个驿站", None),  # the subdistrict, not 嘉兴路
        ("驿站在哪", None),
    ],
)
def test_branch_named_by_its_street(station, question, branch_id):
    branch = live.branch_named_in(station, question)
    assert (branch.id if branch else None) == branch_id


def test_every_branch_lists_its_street(station):
    for branch in station.branches:
        assert branch.streets
        assert any(street in branch.address.zh for street in branch.streets)
        assert live.branch_named_in(station, f"{branch.streets[0]}的驿站在哪") == branch


def test_address_answer_for_a_branch_street_gives_that_branch(station):
    now = at(2026, 3, 11, 10)
    zh = live.LIVE_ANSWERS["branch_address"](station, now, "zh", "新港路的驿站在哪")
    assert zh.splitlines()[0] == "新港路的驿站是嘉兴路街道第四分站（新港路）："
    assert "地址：虹口区新港路405号" in zh
    assert "天宝路" not in zh
    en = live.branch_address(station, now, "en", "Where is the station on Xingang Road?")
    assert en.startswith("The station on Xingang Road is Branch 4 (Xingang Road):")
    assert "Address: 405 Xingang Road, Hongkou District" in en


def test_address_answer_for_a_street_without_branch_lists_them_all(station):
    now = at(2026, 3, 11, 10)
    zh = live.branch_address(station, now, "zh", "株洲路上有驿站吗")
    assert zh.splitlines()[0] == "共有 5 个市民驿站："
    en = live.branch_address(station, now, "en", "Is there a station on Zhuzhou Road?")
    assert en.startswith("There are 5 citizen service stations:")
    # no street named: the written answer (the main station's address) says it all
    assert live.branch_address(station, now, "zh", "驿站地址在哪里") == ""
    assert live.branch_address(station, now, "zh", "怎么走路过去") == ""


def test_branches_answer_for_a_branch_street_gives_only_that_branch(station):
    now = at(2026, 3, 11, 10)
    text = live.list_branches(station, now, "zh", "海拉尔路有驿站吗")
    assert text.startswith("海拉尔路的驿站是嘉兴路街道第三分站（海拉尔路）：")
    assert "周家嘴路" not in text
    assert live.list_branches(station, now, "zh", "株洲路有驿站吗").startswith("共有 5 个")


# --- a holiday named in the question ----------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("春节开门吗", "Spring Festival"),
        ("过年驿站开伐", "Spring Festival"),
        ("Are you open during Chinese New Year?", "Spring Festival"),
        ("元旦开门吗", "New Year's Day"),
        ("Is the station open on New Year's Day?", "New Year's Day"),
        ("国庆开伐", "National Day"),
        ("十一假期开不开", "National Day"),
        ("golden week opening hours", "National Day"),
        ("五一劳动节开门吗", "Labour Day"),
        ("清明节开吗", "Tomb-sweeping Day"),
        ("端午开门伐", "Dragon Boat Festival"),
        ("中秋节开不开", "Mid-autumn Festival"),
        ("十一点开门吗", None),  # eleven o'clock, not the October holiday
        ("驿站几点开门", None),
    ],
)
def test_holiday_named_in_the_question(question, name):
    period = live.holiday_named_in(question, date(2026, 1, 20))
    assert (period.name if period else None) == name


def test_spring_festival_period_has_its_days_off_and_adjusted_working_days():
    period = live.holiday_named_in("春节开门吗", at(2026, 1, 20, 10))
    assert period.days[0] == date(2026, 2, 15)
    assert period.days[-1] == date(2026, 2, 23)
    assert len(period.days) == 9
    assert period.workdays == (date(2026, 2, 14), date(2026, 2, 28))
    # during the holiday it is the current one, after it the next year's (unknown in 2026)
    assert live.holiday_named_in("春节", date(2026, 2, 20)).days[0] == date(2026, 2, 15)
    assert live.holiday_named_in("春节", date(2026, 3, 1)).year == 2027


def test_a_holiday_inside_a_longer_one_counts_the_whole_stretch():
    # in 2025 the Mid-autumn Festival (6 October) fell inside the National Day holiday
    period = live.holiday_named_in("中秋开门吗", date(2025, 9, 1))
    assert (period.days[0], period.days[-1]) == (date(2025, 10, 1), date(2025, 10, 8))


def test_hours_answer_says_what_happens_on_the_named_holiday(station):
    now = at(2026, 1, 20, 10)
    zh = live.LIVE_ANSWERS["opening_hours"](station, now, "zh", "春节开门吗")
    lines = zh.splitlines()
    assert lines[0] == "春节假期（2月15日至2月23日）：休息。"
    assert lines[1] == "调休上班日 2月14日（周六）、2月28日（周六）：开放 8:30–11:30、13:00–17:00。"
    assert lines[2].startswith("现在开着")  # then today, as without a holiday
    en = live.opening_status(station, now, "en", "Are you open at Spring Festival?")
    assert en.splitlines()[0] == "Spring Festival holiday (15 February to 23 February): closed."
    assert "Saturday 14 February, Saturday 28 February: open 8:30–11:30" in en
    # no holiday named: no holiday line
    assert live.opening_status(station, now, "zh", "驿站几点开门").startswith("现在开着")


def test_holiday_answer_uses_holiday_hours_and_extra_dates(raw):
    def change(data):
        data["holiday_hours"] = ["10:00-12:00"]
        data["closed_dates"] = ["2026-10-03"]

    station = edited(raw, change)
    zh = live.opening_status(station, at(2026, 9, 1, 10), "zh", "国庆节开门吗")
    assert zh.splitlines()[0] == "国庆节假期（10月1日至10月7日）：开放 10:00–12:00。"
    assert "其中 10月3日（周六） 休息。" in zh
    assert "调休上班日 9月20日（周日）、10月10日（周六）" in zh


def test_holiday_of_a_year_the_calendar_does_not_know_yet(station):
    zh = live.opening_status(station, at(2026, 11, 30, 10), "zh", "元旦开门吗")
    assert zh.splitlines()[0] == (
        "2027年元旦的放假日期还不知道；法定节假日驿站休息，节前请先打电话问一下。"
    )
    en = live.opening_status(station, at(2026, 11, 30, 10), "en", "open on New Year's Day?")
    assert en.startswith("The 2027 New Year's Day holiday dates are not known yet")


def test_canteen_answer_warns_about_the_named_holiday(station):
    zh = live.canteen_status(station, at(2026, 1, 20, 12), "zh", "春节食堂开伐")
    assert zh.splitlines()[-1] == "春节假期（2月15日至2月23日）供餐可能有调整，请先打电话问一下。"
    assert len(live.canteen_status(station, at(2026, 1, 20, 12), "zh", "食堂几点开")) == len(
        live.canteen_status(station, at(2026, 1, 20, 12), "zh")
    )


def test_station_data_cannot_be_changed_by_accident(station):
    with pytest.raises(dataclasses.FrozenInstanceError):
        station.holiday_hours = ()
    with pytest.raises(TypeError):
        station.hours["sun"] = station.hours["mon"]
    with pytest.raises(TypeError):
        station.canteen.menu["mon"]["lunch"] = station.canteen.menu["tue"]["lunch"]
