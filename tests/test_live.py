"""Live answers (bot/live.py) on the bundled station data: hours, holidays, meals, branches."""

from __future__ import annotations

import copy
import importlib.util
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot import live

STATION_YAML = Path(__file__).resolve().parents[1] / "faq" / "data" / "station.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# a point a few dozen metres from 天宝路881号
NEXT_TO_TIANBAO_ROAD = (31.2648, 121.4939)


@pytest.fixture(scope="module")
def station() -> dict:
    return yaml.safe_load(STATION_YAML.read_text(encoding="utf-8"))["station"]


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def test_station_file_has_the_agreed_shape(station):
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


def test_holiday_hours_apply_on_statutory_holidays(station):
    open_on_holidays = copy.deepcopy(station)
    open_on_holidays["holiday_hours"] = ["10:00-12:00"]
    assert live.hours_for(open_on_holidays, date(2026, 10, 3))[0][0].hour == 10
    text = live.opening_status(open_on_holidays, at(2026, 10, 3, 11), "zh")
    assert text.startswith("现在开着，12:00 关门")


def test_closed_and_open_dates_override_the_calendar(station):
    edited = copy.deepcopy(station)
    edited["closed_dates"] = ["2026-03-10"]
    edited["open_dates"] = [date(2026, 3, 8)]  # YAML reads unquoted dates as dates
    assert live.opening_status(edited, at(2026, 3, 10, 9), "zh").startswith("现在不开门")
    assert "今天临时休息" in live.opening_status(edited, at(2026, 3, 10, 9), "zh")
    assert live.opening_status(edited, at(2026, 3, 8, 9), "zh").startswith("现在开着")


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


def test_todays_menu_on_a_wednesday_in_both_languages(station):
    now = at(2026, 3, 11, 10)
    assert now.weekday() == 2
    wednesday = station["canteen"]["menu"]["wed"]
    zh = live.todays_menu(station, now, "zh")
    assert zh.splitlines()[0] == "今天（周三）的菜单："
    assert "午餐（11:00–13:00）：" + "、".join(wednesday["lunch"]["zh"]) in zh
    en = live.todays_menu(station, now, "en")
    assert en.splitlines()[0] == "Today's menu (Wednesday):"
    assert "Lunch (11:00–13:00): " + ", ".join(wednesday["lunch"]["en"]) in en
    assert "红烧" not in en


def test_a_day_without_menu_says_so(station):
    edited = copy.deepcopy(station)
    del edited["canteen"]["menu"]["wed"]
    assert live.todays_menu(edited, at(2026, 3, 11, 10), "zh") == "今天（周三）没有菜单。"
    assert live.todays_menu(edited, at(2026, 3, 11, 10), "en") == (
        "There is no menu for today (Wednesday)."
    )


def test_nearest_branch_next_to_tianbao_road_is_the_first_branch(station):
    ranked = live.branches_by_distance(station, *NEXT_TO_TIANBAO_ROAD)
    assert ranked[0][1]["id"] == "tianbao"
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
    expected = [
        b["name"]["en"] for _, b in live.branches_by_distance(station, *NEXT_TO_TIANBAO_ROAD)
    ]
    assert names == expected
    assert text.splitlines()[0] == "The 5 nearest stations:"


def test_distance_wording_in_metres_and_kilometres(station):
    far = live.nearest_branches(station, 31.2304, 121.4737, "zh")  # People's Square, ~4 km away
    assert " 公里" in far
    assert "约 " in live.nearest_branches(station, *NEXT_TO_TIANBAO_ROAD, "zh")
    assert " m\n" in live.nearest_branches(station, *NEXT_TO_TIANBAO_ROAD, "en")


def test_branch_note_is_shown_when_present(station):
    edited = copy.deepcopy(station)
    edited["branches"][0]["note"] = {"zh": "社区食堂在这里", "en": "The canteen is here"}
    assert "社区食堂在这里" in live.nearest_branches(edited, *NEXT_TO_TIANBAO_ROAD, "zh")


@given(
    lat=st.floats(min_value=31.20, max_value=31.32),
    lon=st.floats(min_value=121.43, max_value=121.55),
)
def test_branches_are_always_sorted_by_distance(lat, lon):
    station = yaml.safe_load(STATION_YAML.read_text(encoding="utf-8"))["station"]
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
    assert set(live.LIVE_ANSWERS) == {"opening_hours", "canteen_hours", "canteen_menu", "branches"}
    for answer in live.LIVE_ANSWERS.values():
        for lang in ("zh", "en"):
            assert answer(station, at(2026, 3, 11, 10), lang).strip()


def test_bad_station_data_raises_one_line_error(station):
    broken = copy.deepcopy(station)
    broken["hours"]["tue"] = ["8.30-11.30"]
    with pytest.raises(live.LiveDataError, match=r"station\.hours\.tue: '8\.30-11\.30'") as error:
        live.opening_status(broken, at(2026, 3, 10, 9), "zh")
    assert "\n" not in str(error.value)
    with pytest.raises(live.LiveDataError, match="branches"):
        live.nearest_branches({"timezone": "Asia/Shanghai"}, 31.26, 121.49, "zh")
    with pytest.raises(ValueError, match="not a map position"):
        live.nearest_branches(station, 95.0, 121.49, "zh")


@pytest.mark.skipif(
    importlib.util.find_spec("faq.loader") is None, reason="faq/loader.py not written yet"
)
def test_loader_accepts_the_bundled_station_data(station):
    from faq import loader

    station_problems = [p for p in loader.check() if (p.field or "").startswith("station")]
    assert station_problems == []
    try:
        kb = loader.load()
    except loader.FaqError:
        pytest.skip("bundled FAQ does not load yet for reasons outside station.yaml")
    # the loader's normalised copy must give the same answers as the raw file
    now = at(2026, 10, 1, 10)
    for name, answer in live.LIVE_ANSWERS.items():
        assert answer(kb.station, now, "zh") == answer(station, now, "zh"), name
