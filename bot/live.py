"""Live answers computed from station data and the clock: open now?, which meal, today's menu,
nearest branch. Pure functions: callers pass `now`, so the same inputs always give the same text.

`station` is the `station:` mapping of faq/data/station.yaml (KnowledgeBase.station).
Bad or missing station data raises LiveDataError (one line); callers fall back to the static answer.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from faq.loader import WEEKDAYS

log = logging.getLogger(__name__)

MEALS = ("breakfast", "lunch", "dinner")
# How far ahead to look for the next opening: longer than any holiday (Spring Festival ~9 days).
LOOKAHEAD_DAYS = 31
EARTH_RADIUS_M = 6_371_000

WEEKDAY_NAMES = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTH_NAMES_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
MEAL_NAMES = {
    "zh": {"breakfast": "早餐", "lunch": "午餐", "dinner": "晚餐"},
    "en": {"breakfast": "breakfast", "lunch": "lunch", "dinner": "dinner"},
}
# chinesecalendar names holidays in English; residents reading Chinese get the usual names.
HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}

# Sentence templates of the live lines (data-driven text, kept next to the data they format).
TEMPLATES: dict[str, dict[str, str]] = {
    "zh": {
        "open_now": "现在开着，{until} 关门。",
        "lunch_break": "现在午休中，{reopen} 再开。",
        "break": "现在休息中，{reopen} 再开。",
        "not_yet": "现在还没开门，今天 {opens} 开门。",
        "closed_now": "现在不开门。下次开门：{next}。",
        "no_next": "现在不开门。最近一个月没有开放安排，请打电话问一下。",
        "today_hours": "今天开放时间：{hours}。",
        "today_closed": "今天（{weekday}）休息。",
        "today_holiday": "今天是{holiday}假期，休息。",
        "today_holiday_hours": "今天是{holiday}假期，开放时间：{hours}。",
        "today_adjusted": "今天是调休上班日，开放时间：{hours}。",
        "today_closed_date": "今天临时休息。",
        "calendar_unknown": "（{year}年的节假日安排还不知道，节假日前请先打电话问一下。）",
        "next_tomorrow": "明天 {weekday} {time}",
        "next_this_week": "{weekday} {time}",
        "next_dated": "{month}月{day}日 {weekday} {time}",
        "serving": "现在是{meal}时间（{hours}）。",
        "no_meal_now": "现在不供餐。下一顿：{meal} {hours}。",
        "meals_over": "今天的饭点已经过了。明天{meal} {start} 开始。",
        "canteen_holiday": "今天是节假日，供餐可能有调整，请先打电话问一下。",
        "menu_title": "今天（{weekday}）的菜单：",
        "menu_line": "{meal}：{dishes}",
        "meal_label": "{meal}（{hours}）",
        "no_menu": "今天（{weekday}）没有菜单。",
        "nearest_one": "离您最近的驿站：",
        "nearest_many": "离您最近的 {count} 个驿站：",
        "branch_distance": "{name}，约 {distance}",
        "address": "地址：{address}",
        "phone": "电话：{phone}",
        "meters": "{value} 米",
        "kilometers": "{value} 公里",
        "branch_count": "共有 {count} 个市民驿站：",
        "branch_brief": "{number}. {name}：{address}，电话 {phone}",
        "send_location": "发送您的位置，就能找到离您最近的驿站。",
        "list_sep": "、",
    },
    "en": {
        "open_now": "Open now, until {until}.",
        "lunch_break": "Closed now for the lunch break; open again at {reopen}.",
        "break": "Closed now for a break; open again at {reopen}.",
        "not_yet": "Not open yet; opens today at {opens}.",
        "closed_now": "Closed now. Next opening: {next}.",
        "no_next": "Closed now, with no opening in the next month. Please phone us.",
        "today_hours": "Today's hours: {hours}.",
        "today_closed": "Closed today ({weekday}).",
        "today_holiday": "Today is a public holiday ({holiday}): closed.",
        "today_holiday_hours": "Today is a public holiday ({holiday}). Hours: {hours}.",
        "today_adjusted": "Today is an adjusted working day (调休). Hours: {hours}.",
        "today_closed_date": "Closed today (special closing).",
        "calendar_unknown": "(The {year} public holidays are not known yet; please phone before "
        "coming on a holiday.)",
        "next_tomorrow": "tomorrow, {weekday} {time}",
        "next_this_week": "{weekday} {time}",
        "next_dated": "{weekday} {day} {month}, {time}",
        "serving": "The canteen is serving {meal} now ({hours}).",
        "no_meal_now": "No meal is being served right now. Next: {meal} {hours}.",
        "meals_over": "Today's meals are over. Tomorrow {meal} starts at {start}.",
        "canteen_holiday": "Today is a public holiday: meal times may change, please phone first.",
        "menu_title": "Today's menu ({weekday}):",
        "menu_line": "{meal}: {dishes}",
        "meal_label": "{meal} ({hours})",
        "no_menu": "There is no menu for today ({weekday}).",
        "nearest_one": "The nearest station:",
        "nearest_many": "The {count} nearest stations:",
        "branch_distance": "{name}, about {distance}",
        "address": "Address: {address}",
        "phone": "Phone: {phone}",
        "meters": "{value} m",
        "kilometers": "{value} km",
        "branch_count": "There are {count} citizen service stations:",
        "branch_brief": "{number}. {name}: {address}, phone {phone}",
        "send_location": "Send your location to find the nearest one.",
        "list_sep": ", ",
    },
}

_TIME_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})\s*$")

Interval = tuple[time, time]


class LiveDataError(ValueError):
    """Station data is missing or malformed; str() is one line naming the field."""


@dataclass(frozen=True)
class DayPlan:
    """What kind of day `day` is for the station, and its opening hours."""

    day: date
    hours: list[Interval]
    # "regular" | "holiday" | "adjusted_workday" | "closed_date" | "open_date"
    kind: str
    holiday: str | None = None  # chinesecalendar's English name, e.g. "National Day"
    calendar_known: bool = True  # False: chinesecalendar has no data for this year


def plan_for(station: dict[str, Any], day: date) -> DayPlan:
    """Decides the day's hours: extra dates first, then China's holiday calendar, then weekdays."""
    if day in _dates(station, "closed_dates"):
        return DayPlan(day, [], "closed_date")
    if day in _dates(station, "open_dates"):
        return DayPlan(day, _weekday_hours(station, day) or _workday_hours(station), "open_date")
    try:
        on_holiday, holiday = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        _note_unknown_year(day.year)
        return DayPlan(day, _weekday_hours(station, day), "regular", calendar_known=False)
    if on_holiday and holiday is not None:
        holiday_hours = _intervals(station.get("holiday_hours"), "holiday_hours")
        return DayPlan(day, holiday_hours, "holiday", holiday)
    if not on_holiday and day.weekday() >= 5:
        return DayPlan(day, _workday_hours(station), "adjusted_workday", holiday)
    return DayPlan(day, _weekday_hours(station, day), "regular")


def hours_for(station: dict[str, Any], day: date) -> list[Interval]:
    """Opening hours on `day` as (start, end) pairs; [] when closed."""
    return plan_for(station, day).hours


def is_open_day(station: dict[str, Any], day: date) -> bool:
    """True if the station opens at all on `day` (statutory holidays and 调休 included)."""
    return bool(hours_for(station, day))


def opening_status(station: dict[str, Any], now: datetime, lang: str) -> str:
    """Is the station open right now, today's hours, and when closed, when it next opens."""
    words = _words(lang)
    now = _local(station, now)
    plan = plan_for(station, now.date())
    lines = [_status_line(station, plan, now, lang)]
    hours = _join_intervals(plan.hours, lang)
    weekday = WEEKDAY_NAMES[_lang(lang)][now.weekday()]
    holiday = _holiday_name(plan.holiday, lang)
    if plan.kind == "closed_date":
        lines.append(words["today_closed_date"])
    elif plan.kind == "holiday":
        key = "today_holiday_hours" if plan.hours else "today_holiday"
        lines.append(words[key].format(holiday=holiday, hours=hours))
    elif plan.kind == "adjusted_workday":
        lines.append(words["today_adjusted"].format(hours=hours))
    elif not plan.hours:
        lines.append(words["today_closed"].format(weekday=weekday))
    else:
        lines.append(words["today_hours"].format(hours=hours))
    if not plan.calendar_known:
        lines.append(words["calendar_unknown"].format(year=now.year))
    return "\n".join(lines)


def canteen_status(station: dict[str, Any], now: datetime, lang: str) -> str:
    """Which meal the canteen is serving now, or the next one (the FAQ answer lists all times)."""
    words = _words(lang)
    now = _local(station, now)
    meals = _meals(station)
    if not meals:
        raise LiveDataError("station.canteen.meals: no meal times")
    clock = now.time()
    names = MEAL_NAMES[_lang(lang)]
    serving = next(((m, span) for m, span in meals if span[0] <= clock < span[1]), None)
    upcoming = next(((m, span) for m, span in meals if clock < span[0]), None)
    if serving is not None:
        meal, span = serving
        line = words["serving"].format(meal=names[meal], hours=_format_interval(span))
    elif upcoming is not None:
        meal, span = upcoming
        line = words["no_meal_now"].format(meal=names[meal], hours=_format_interval(span))
    else:
        meal, span = meals[0]
        line = words["meals_over"].format(meal=names[meal], start=_format_time(span[0]))
    lines = [line]
    if plan_for(station, now.date()).kind == "holiday":
        lines.append(words["canteen_holiday"])
    return "\n".join(lines)


def todays_menu(station: dict[str, Any], now: datetime, lang: str) -> str:
    """Today's canteen menu, meal by meal, in the resident's language."""
    words = _words(lang)
    now = _local(station, now)
    weekday = WEEKDAY_NAMES[_lang(lang)][now.weekday()]
    canteen = _mapping(station.get("canteen"), "canteen")
    menu = _mapping(canteen.get("menu"), "canteen.menu")
    day_menu = _mapping(menu.get(WEEKDAYS[now.weekday()]), "canteen.menu")
    meal_hours = dict(_meals(station))
    lines = []
    for meal in MEALS:
        dishes = _localized(day_menu.get(meal), lang)
        if not dishes:
            continue
        name = MEAL_NAMES[_lang(lang)][meal].capitalize()
        if meal in meal_hours:
            name = words["meal_label"].format(meal=name, hours=_format_interval(meal_hours[meal]))
        lines.append(words["menu_line"].format(meal=name, dishes=words["list_sep"].join(dishes)))
    if not lines:
        return words["no_menu"].format(weekday=weekday)
    return "\n".join([words["menu_title"].format(weekday=weekday), *lines])


def nearest_branches(
    station: dict[str, Any], lat: float, lon: float, lang: str, limit: int = 1
) -> str:
    """The `limit` branches nearest to (lat, lon), nearest first, with distance and contact."""
    words = _words(lang)
    ranked = branches_by_distance(station, lat, lon)[: max(limit, 1)]
    header = words["nearest_one"] if len(ranked) == 1 else words["nearest_many"]
    lines = [header.format(count=len(ranked))]
    for number, (meters, branch) in enumerate(ranked, start=1):
        name = _localized(branch.get("name"), lang)
        line = words["branch_distance"].format(name=name, distance=_format_distance(meters, lang))
        lines.append(f"{number}. {line}" if len(ranked) > 1 else line)
        lines.append(words["address"].format(address=_localized(branch.get("address"), lang)))
        if branch.get("phone"):
            lines.append(words["phone"].format(phone=branch["phone"]))
        if branch.get("note"):
            lines.append(_localized(branch["note"], lang))
    return "\n".join(lines)


def branches_by_distance(
    station: dict[str, Any], lat: float, lon: float
) -> list[tuple[float, dict[str, Any]]]:
    """Every branch with its distance in metres from (lat, lon), nearest first."""
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"not a map position: {lat}, {lon}")
    distances = [(distance_m(lat, lon, *_position(b)), b) for b in _branches(station)]
    return sorted(distances, key=lambda pair: pair[0])


def list_branches(station: dict[str, Any], now: datetime, lang: str) -> str:
    """Every branch in brief, and how to find the nearest one (no location known yet)."""
    words = _words(lang)
    branches = _branches(station)
    lines = [words["branch_count"].format(count=len(branches))]
    for number, branch in enumerate(branches, start=1):
        lines.append(
            words["branch_brief"].format(
                number=number,
                name=_localized(branch.get("name"), lang),
                address=_localized(branch.get("address"), lang),
                phone=branch.get("phone", "-"),
            )
        )
    lines.append(words["send_location"])
    return "\n".join(lines)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


# entry `live:` name -> function(station, now, lang)
LIVE_ANSWERS: dict[str, Callable[[dict[str, Any], datetime, str], str]] = {
    "opening_hours": opening_status,
    "canteen_hours": canteen_status,
    "canteen_menu": todays_menu,
    "branches": list_branches,
}


def _status_line(station: dict[str, Any], plan: DayPlan, now: datetime, lang: str) -> str:
    words = _words(lang)
    clock = now.time()
    for start, end in plan.hours:
        if start <= clock < end:
            return words["open_now"].format(until=_format_time(end))
    later = [start for start, _ in plan.hours if start > clock]
    if later and clock < plan.hours[0][0]:
        return words["not_yet"].format(opens=_format_time(later[0]))
    if later:
        previous_end = max(end for _, end in plan.hours if end <= clock)
        # a gap around midday is the lunch break; any other gap is just a break
        key = "lunch_break" if time(11, 0) <= previous_end <= time(14, 0) else "break"
        return words[key].format(reopen=_format_time(later[0]))
    next_open = _next_opening(station, now.date())
    if next_open is None:
        return words["no_next"]
    return words["closed_now"].format(next=_format_next(now.date(), next_open, lang))


def _next_opening(station: dict[str, Any], today: date) -> datetime | None:
    for offset in range(1, LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        hours = hours_for(station, day)
        if hours:
            return datetime.combine(day, hours[0][0])
    return None


def _format_next(today: date, when: datetime, lang: str) -> str:
    words = _words(lang)
    days_ahead = (when.date() - today).days
    weekday = WEEKDAY_NAMES[_lang(lang)][when.weekday()]
    clock = _format_time(when.time())
    if days_ahead == 1:
        return words["next_tomorrow"].format(weekday=weekday, time=clock)
    if days_ahead < 7:
        return words["next_this_week"].format(weekday=weekday, time=clock)
    month = when.month if _lang(lang) == "zh" else MONTH_NAMES_EN[when.month - 1]
    return words["next_dated"].format(month=month, day=when.day, weekday=weekday, time=clock)


def _holiday_name(holiday: str | None, lang: str) -> str:
    if holiday is None:
        return ""
    return HOLIDAY_NAMES_ZH.get(holiday, holiday) if _lang(lang) == "zh" else holiday


@cache
def _note_unknown_year(year: int) -> None:
    # once per year and process: the bot keeps answering by plain weekday rules meanwhile
    log.warning(
        "chinesecalendar has no holiday data for %d: using plain weekday hours; "
        "upgrade the chinesecalendar package",
        year,
    )


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "zh"


def _words(lang: str) -> dict[str, str]:
    return TEMPLATES[_lang(lang)]


def _localized(value: Any, lang: str) -> Any:
    """{zh: ..., en: ...} -> the resident's language, else the other one."""
    if not isinstance(value, dict):
        return value
    primary = _lang(lang)
    other = "zh" if primary == "en" else "en"
    return value.get(primary) or value.get(other)


def _timezone(station: dict[str, Any]) -> ZoneInfo:
    name = station.get("timezone", "Asia/Shanghai")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise LiveDataError(
            f"station.timezone: unknown time zone {name!r} (install the tzdata package?)"
        ) from error


def _local(station: dict[str, Any], now: datetime) -> datetime:
    tz = _timezone(station)
    # a naive datetime is taken to be station time already
    return now.replace(tzinfo=tz) if now.tzinfo is None else now.astimezone(tz)


def _mapping(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LiveDataError(f"station.{field}: expected a mapping")
    return value


def _parse_interval(text: Any, field: str) -> Interval:
    match = _TIME_RANGE.match(str(text))
    if match is None:
        raise LiveDataError(f'station.{field}: {text!r} is not a time range like "08:30-11:30"')
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as error:
        raise LiveDataError(f"station.{field}: {text!r}: {error}") from error
    if start >= end:
        raise LiveDataError(f"station.{field}: {text!r} ends before it starts")
    return start, end


def _intervals(value: Any, field: str) -> list[Interval]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise LiveDataError(f"station.{field}: expected a list of time ranges")
    return sorted(_parse_interval(item, field) for item in value)


def _weekday_hours(station: dict[str, Any], day: date) -> list[Interval]:
    key = WEEKDAYS[day.weekday()]
    hours = _mapping(station.get("hours"), "hours")
    if not hours:
        raise LiveDataError("station.hours: no opening hours")
    return _intervals(hours.get(key), f"hours.{key}")


def _workday_hours(station: dict[str, Any]) -> list[Interval]:
    """Hours of an adjusted working day: Monday's, or the first weekday that has hours."""
    hours = _mapping(station.get("hours"), "hours")
    for key in WEEKDAYS[:5]:
        intervals = _intervals(hours.get(key), f"hours.{key}")
        if intervals:
            return intervals
    return []


def _dates(station: dict[str, Any], field: str) -> set[date]:
    values = station.get(field) or []
    if not isinstance(values, list):
        raise LiveDataError(f"station.{field}: expected a list of dates")
    result = set()
    for value in values:
        if isinstance(value, date):  # YAML reads an unquoted 2026-03-15 as a date already
            result.add(value)
            continue
        try:
            result.add(date.fromisoformat(str(value).strip()))
        except ValueError as error:
            raise LiveDataError(
                f"station.{field}: {value!r} is not a date like 2026-03-15"
            ) from error
    return result


def _meals(station: dict[str, Any]) -> list[tuple[str, Interval]]:
    canteen = _mapping(station.get("canteen"), "canteen")
    meals = _mapping(canteen.get("meals"), "canteen.meals")
    spans = [
        (meal, _parse_interval(meals[meal], f"canteen.meals.{meal}"))
        for meal in MEALS
        if meals.get(meal)
    ]
    return sorted(spans, key=lambda pair: pair[1])


def _branches(station: dict[str, Any]) -> list[dict[str, Any]]:
    branches = station.get("branches")
    if not isinstance(branches, list) or not branches:
        raise LiveDataError("station.branches: no branches listed")
    return branches


def _position(branch: dict[str, Any]) -> tuple[float, float]:
    try:
        return float(branch["lat"]), float(branch["lon"])
    except (KeyError, TypeError, ValueError) as error:
        raise LiveDataError(
            f"station.branches: {branch.get('id', '?')}: lat/lon missing or not numbers"
        ) from error


def _format_time(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"


def _format_interval(span: Interval) -> str:
    return f"{_format_time(span[0])}–{_format_time(span[1])}"


def _join_intervals(spans: list[Interval], lang: str) -> str:
    return _words(lang)["list_sep"].join(_format_interval(span) for span in spans)


def _format_distance(meters: float, lang: str) -> str:
    words = _words(lang)
    if meters < 1000:
        return words["meters"].format(value=max(10, round(meters / 10) * 10))
    return words["kilometers"].format(value=f"{meters / 1000:.1f}")
