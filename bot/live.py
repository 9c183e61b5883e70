"""Live answers computed from station data and the clock: open now?, which meal, today's menu,
nearest branch, the branch or holiday a resident names. Pure functions: callers pass `now` and
the resident's text, so the same inputs always give the same text.

`station` is the StationInfo that faq.loader built from faq/data/station.yaml
(KnowledgeBase.station): checked once at load time, never re-parsed here. Missing station data
(no hours, no branches) raises LiveDataError (one line); callers fall back to the static answer.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

import chinese_calendar
from chinese_calendar import constants as calendar_data

from bot.messages import LANGUAGES, MESSAGES
from faq.model import (
    WEEKDAYS,
    Branch,
    Localized,
    StationInfo,
    TimeRange,
    branch_named_in,
    names_a_street,
)

__all__ = [
    "LIVE_ANSWERS",
    "Branch",
    "DayPlan",
    "HolidayPeriod",
    "LiveDataError",
    "StationInfo",
    "branch_address",
    "branch_named_in",
    "branches_by_distance",
    "canteen_status",
    "distance_m",
    "holiday_named_in",
    "hours_for",
    "is_open_day",
    "list_branches",
    "names_a_street",
    "nearest_branches",
    "opening_status",
    "plan_for",
    "todays_menu",
    "week_hours",
]

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

# Sentence templates of the live lines: the catalogue's "live.*" messages, by language.
_TEMPLATES: dict[str, dict[str, str]] = {
    language: {
        key.removeprefix("live."): texts[language]
        for key, texts in MESSAGES.items()
        if key.startswith("live.")
    }
    for language in LANGUAGES
}

# What residents call each holiday of chinesecalendar (English names), after NFKC and casefold.
# Spring Festival comes before New Year's Day: "Chinese New Year" is the Spring Festival.
HOLIDAY_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "Spring Festival",
            r"春[节節]|过年|過年|大年|除夕|年三十|年初[一二三四五六七]|正月初"
            r"|spring\s*festival|(?:chinese|lunar)\s*new\s*year",
        ),
        ("New Year's Day", r"元旦|new\s*year"),
        ("Tomb-sweeping Day", r"清明|tomb[\s-]*sweeping|qing\s*ming"),
        ("Labour Day", r"[劳勞][动動][节節]|五一(?![0-9点點号號路])|labou?r\s*day|may\s*day"),
        ("Dragon Boat Festival", r"端午|dragon\s*boat"),
        ("Mid-autumn Festival", r"中秋|mid[\s-]*autumn|moon\s*festival"),
        (
            "National Day",
            r"国庆|國慶|十一(?=假|长假|長假|黄金周|黃金週|期间|期間|放假)"
            r"|national\s*day|golden\s*week",
        ),
    )
)
# how far apart a holiday and its adjusted working days (调休) may be
WORKDAY_REACH = timedelta(days=14)


class LiveDataError(ValueError):
    """Station data needed for this answer is missing; str() is one line naming the field."""


@dataclass(frozen=True)
class DayPlan:
    """What kind of day `day` is for the station, and its opening hours."""

    day: date
    hours: tuple[TimeRange, ...]
    # "regular" | "holiday" | "adjusted_workday" | "closed_date" | "open_date"
    kind: str
    holiday: str | None = None  # chinesecalendar's English name, e.g. "National Day"
    calendar_known: bool = True  # False: chinesecalendar has no data for this year


@dataclass(frozen=True)
class HolidayPeriod:
    """The next (or current) days off of a statutory holiday, and its adjusted working days."""

    name: str  # chinesecalendar's English name, e.g. "Spring Festival"
    year: int
    days: tuple[date, ...]  # () when chinesecalendar does not know that year yet
    workdays: tuple[date, ...] = ()  # weekend days worked in exchange (调休)


def plan_for(station: StationInfo, day: date) -> DayPlan:
    """Decides the day's hours: extra dates first, then China's holiday calendar, then weekdays."""
    if day in station.closed_dates:
        return DayPlan(day, (), "closed_date")
    if day in station.open_dates:
        return DayPlan(day, _weekday_hours(station, day) or _workday_hours(station), "open_date")
    try:
        on_holiday, holiday = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        _note_unknown_year(day.year)
        return DayPlan(day, _weekday_hours(station, day), "regular", calendar_known=False)
    if on_holiday and holiday is not None:
        return DayPlan(day, station.holiday_hours, "holiday", holiday)
    if not on_holiday and day.weekday() >= 5:
        return DayPlan(day, _workday_hours(station), "adjusted_workday", holiday)
    return DayPlan(day, _weekday_hours(station, day), "regular")


def hours_for(station: StationInfo, day: date) -> tuple[TimeRange, ...]:
    """Opening hours on `day`, earliest first; () when closed."""
    return plan_for(station, day).hours


def is_open_day(station: StationInfo, day: date) -> bool:
    """True if the station opens at all on `day` (statutory holidays and 调休 included)."""
    return bool(hours_for(station, day))


def opening_status(station: StationInfo, now: datetime, lang: str, text: str = "") -> str:
    """Is the station open right now, today's hours, and when closed, when it next opens.
    When `text` (the resident's question) names a holiday, what happens on that holiday first."""
    words = _words(lang)
    now = _local(station, now)
    plan = plan_for(station, now.date())
    lines = []
    period = holiday_named_in(text, now)
    if period is not None:
        lines.extend(_holiday_lines(station, period, lang))
    lines.append(_status_line(station, plan, now, lang))
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


def week_hours(station: StationInfo, lang: str) -> str:
    """The station's week (周一至周五：开放 8:30–11:30、13:00–17:00 …) and its hours on
    statutory holidays, under its name when it is one station of a district."""
    words = _words(lang)
    names = WEEKDAY_NAMES[_lang(lang)]
    runs: list[tuple[int, int, tuple[TimeRange, ...]]] = []
    for index, day in enumerate(WEEKDAYS):
        hours = station.hours.get(day, ())
        if runs and runs[-1][2] == hours:
            runs[-1] = (runs[-1][0], index, hours)
        else:
            runs.append((index, index, hours))
    lines = []
    home = station.branch(station.home) if station.home else None
    if home is not None:
        lines.append(words["week_title"].format(name=_text(home.name, lang)))
    for first, last, hours in runs:
        days = words["list_sep"].join(names[first : last + 1])  # 周一 / 周六、周日
        if last > first + 1:
            days = words["date_span"].format(first=names[first], last=names[last])
        lines.append(words["week_line"].format(days=days, state=_state(hours, lang)))
    lines.append(words["week_holidays"].format(state=_state(station.holiday_hours, lang)))
    return "\n".join(lines)


def canteen_status(station: StationInfo, now: datetime, lang: str, text: str = "") -> str:
    """Which meal the canteen is serving now, or the next one (the FAQ answer lists all times);
    a word of caution when today, or the holiday `text` names, is a public holiday."""
    words = _words(lang)
    now = _local(station, now)
    meals = station.canteen.meals
    if not meals:
        raise LiveDataError("station.canteen.meals: no meal times")
    clock = now.time()
    serving = next((meal for meal in meals if meal.hours.contains(clock)), None)
    upcoming = next((meal for meal in meals if clock < meal.hours.start), None)
    if serving is not None:
        line = words["serving"].format(
            meal=_meal_name(serving.name, lang), hours=_format_interval(serving.hours)
        )
    elif upcoming is not None:
        line = words["no_meal_now"].format(
            meal=_meal_name(upcoming.name, lang), hours=_format_interval(upcoming.hours)
        )
    else:
        first = meals[0]
        line = words["meals_over"].format(
            meal=_meal_name(first.name, lang), start=_format_time(first.hours.start)
        )
    lines = [line]
    if plan_for(station, now.date()).kind == "holiday":
        lines.append(words["canteen_holiday"])
    elif (period := holiday_named_in(text, now)) is not None and period.days:
        days = _format_span(period.days[0], period.days[-1], lang)
        holiday = _holiday_name(period.name, lang)
        lines.append(words["canteen_named_holiday"].format(holiday=holiday, days=days))
    return "\n".join(lines)


def todays_menu(station: StationInfo, now: datetime, lang: str, text: str = "") -> str:
    """Today's canteen menu, meal by meal, in the resident's language."""
    words = _words(lang)
    now = _local(station, now)
    weekday = WEEKDAY_NAMES[_lang(lang)][now.weekday()]
    day_menu = station.canteen.menu.get(WEEKDAYS[now.weekday()], {})
    order = [meal.name for meal in station.canteen.meals]
    order += [meal for meal in MEALS if meal not in order]
    order += [meal for meal in day_menu if meal not in order]
    lines = []
    for meal in order:
        dishes = day_menu[meal].pick(_lang(lang)) if meal in day_menu else None
        if not dishes:
            continue
        name = _meal_name(meal, lang).capitalize()
        served = station.canteen.meal(meal)
        if served is not None:
            name = words["meal_label"].format(meal=name, hours=_format_interval(served.hours))
        lines.append(words["menu_line"].format(meal=name, dishes=words["list_sep"].join(dishes)))
    if not lines:
        return words["no_menu"].format(weekday=weekday)
    return "\n".join([words["menu_title"].format(weekday=weekday), *lines])


def nearest_branches(
    station: StationInfo, lat: float, lon: float, lang: str, limit: int = 1
) -> str:
    """The `limit` branches nearest to (lat, lon), nearest first, with distance and contact."""
    words = _words(lang)
    ranked = branches_by_distance(station, lat, lon)[: max(limit, 1)]
    header = words["nearest_one"] if len(ranked) == 1 else words["nearest_many"]
    lines = [header.format(count=len(ranked))]
    for number, (meters, branch) in enumerate(ranked, start=1):
        name = _text(branch.name, lang)
        line = words["branch_distance"].format(name=name, distance=_format_distance(meters, lang))
        lines.append(f"{number}. {line}" if len(ranked) > 1 else line)
        lines.extend(_branch_details(branch, lang))
    return "\n".join(lines)


def branches_by_distance(
    station: StationInfo, lat: float, lon: float
) -> list[tuple[float, Branch]]:
    """Every branch with its distance in metres from (lat, lon), nearest first."""
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"not a map position: {lat}, {lon}")
    distances = [(distance_m(lat, lon, b.lat, b.lon), b) for b in _branches(station)]
    return sorted(distances, key=lambda pair: pair[0])


def list_branches(station: StationInfo, now: datetime, lang: str, text: str = "") -> str:
    """The branch `text` names by its street (新港路), else every branch in brief and how to
    find the nearest one."""
    named = _named_branch(station, text, lang)
    if named:
        return named
    words = _words(lang)
    branches = _branches(station)
    lines = [words["branch_count"].format(count=len(branches))]
    for number, branch in enumerate(branches, start=1):
        lines.append(
            words["branch_brief"].format(
                number=number,
                name=_text(branch.name, lang),
                address=_text(branch.address, lang),
                phone=branch.phone or "-",
            )
        )
    lines.append(words["send_location"])
    return "\n".join(lines)


def branch_address(station: StationInfo, now: datetime, lang: str, text: str = "") -> str:
    """For "where is the station": the branch `text` names by its street; every branch when
    `text` names a street without one (株洲路); else the resident's own station in a district
    of several (`station.home`); else nothing (""), as the written answer (the main
    station's address) says it all."""
    named = _named_branch(station, text, lang)
    if named:
        return named
    if names_a_street(text):
        return list_branches(station, now, lang)
    home = station.branch(station.home) if station.home else None
    if home is not None:
        header = _words(lang)["home_branch"].format(name=_text(home.name, lang))
        return "\n".join([header, *_branch_details(home, lang)])
    return ""


def holiday_named_in(text: str, now: date | datetime) -> HolidayPeriod | None:
    """The statutory holiday `text` names (春节, 国庆, New Year's Day ...), with the days off of
    its current or next occurrence from `now` and its adjusted working days; None if no
    holiday is named."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    today = now.date() if isinstance(now, datetime) else now
    for name, pattern in HOLIDAY_WORDS:
        if pattern.search(folded):
            return _holiday_period(name, today)
    return None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


LiveAnswer = Callable[[StationInfo, datetime, str, str], str]

# entry `live:` name -> function(station, now, lang, text); `text` is the resident's question
LIVE_ANSWERS: dict[str, LiveAnswer] = {
    "opening_hours": opening_status,
    "canteen_hours": canteen_status,
    "canteen_menu": todays_menu,
    "branches": list_branches,
    "branch_address": branch_address,
}


def _named_branch(station: StationInfo, text: str, lang: str) -> str:
    branch = branch_named_in(station, text) if text else None
    if branch is None:
        return ""
    street = _street_in(branch, text, lang)
    header = _words(lang)["named_branch"].format(street=street, name=_text(branch.name, lang))
    return "\n".join([header, *_branch_details(branch, lang)])


def _street_in(branch: Branch, text: str, lang: str) -> str:
    """The branch's street as the resident wrote it, else its first street."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    written = [street for street in branch.streets if street.casefold() in folded]
    ascii_first = sorted(branch.streets, key=lambda street: not street.isascii())
    preferred = ascii_first if _lang(lang) == "en" else list(branch.streets)
    return (written or preferred or [branch.id])[0]


def _branch_details(branch: Branch, lang: str) -> list[str]:
    words = _words(lang)
    lines = [words["address"].format(address=_text(branch.address, lang))]
    if branch.phone:
        lines.append(words["phone"].format(phone=branch.phone))
    if branch.note is not None:
        lines.append(_text(branch.note, lang))
    return lines


def _holiday_period(name: str, today: date) -> HolidayPeriod:
    named = sorted(day for day, holiday in calendar_data.holidays.items() if holiday == name)
    blocks: list[list[date]] = []
    for day in named:
        if blocks and (day - blocks[-1][-1]).days <= 1:
            blocks[-1].append(day)
        else:
            blocks.append([day])
    block = next((b for b in blocks if b[-1] >= today and (b[0] - today).days <= 366), None)
    if block is None:
        passed = any(b[-1] < today and b[-1].year == today.year for b in blocks)
        return HolidayPeriod(name, today.year + 1 if passed else today.year, ())
    # a holiday inside a longer one (中秋 within 国庆 in 2025) is off for the whole stretch
    first, last = block[0], block[-1]
    while first - timedelta(days=1) in calendar_data.holidays:
        first -= timedelta(days=1)
    while last + timedelta(days=1) in calendar_data.holidays:
        last += timedelta(days=1)
    days = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
    names = {calendar_data.holidays[day] for day in days}
    workdays = tuple(
        sorted(
            day
            for day, holiday in calendar_data.workdays.items()
            if holiday in names and first - WORKDAY_REACH <= day <= last + WORKDAY_REACH
        )
    )
    return HolidayPeriod(name, block[0].year, days, workdays)


def _holiday_lines(station: StationInfo, period: HolidayPeriod, lang: str) -> list[str]:
    words = _words(lang)
    holiday = _holiday_name(period.name, lang)
    if not period.days:
        state = _state(station.holiday_hours, lang)
        return [words["holiday_unknown"].format(year=period.year, holiday=holiday, state=state)]
    span = _format_span(period.days[0], period.days[-1], lang)
    usual = station.holiday_hours
    if usual:
        lines = [
            words["holiday_open"].format(
                holiday=holiday, days=span, hours=_join_intervals(usual, lang)
            )
        ]
    else:
        lines = [words["holiday_closed"].format(holiday=holiday, days=span)]
    for day in period.days:  # closed_dates and open_dates of station.yaml
        hours = hours_for(station, day)
        if hours != usual:
            lines.append(
                words["holiday_except"].format(
                    day=_format_date(day, lang, weekday=True), state=_state(hours, lang)
                )
            )
    by_hours: dict[tuple[TimeRange, ...], list[date]] = {}
    for day in period.workdays:
        by_hours.setdefault(hours_for(station, day), []).append(day)
    for hours, days in by_hours.items():
        listed = words["list_sep"].join(_format_date(day, lang, weekday=True) for day in days)
        if hours:
            lines.append(
                words["holiday_workdays"].format(days=listed, hours=_join_intervals(hours, lang))
            )
    return lines


def _state(hours: tuple[TimeRange, ...], lang: str) -> str:
    words = _words(lang)
    return (
        words["open_hours"].format(hours=_join_intervals(hours, lang)) if hours else words["closed"]
    )


def _format_date(day: date, lang: str, *, weekday: bool = False) -> str:
    words = _words(lang)
    month = day.month if _lang(lang) == "zh" else MONTH_NAMES_EN[day.month - 1]
    name = WEEKDAY_NAMES[_lang(lang)][day.weekday()]
    key = "date_weekday" if weekday else "date"
    return words[key].format(month=month, day=day.day, weekday=name)


def _format_span(first: date, last: date, lang: str) -> str:
    if first == last:
        return _format_date(first, lang, weekday=True)
    return _words(lang)["date_span"].format(
        first=_format_date(first, lang), last=_format_date(last, lang)
    )


def _status_line(station: StationInfo, plan: DayPlan, now: datetime, lang: str) -> str:
    words = _words(lang)
    clock = now.time()
    for span in plan.hours:
        if span.contains(clock):
            return words["open_now"].format(until=_format_time(span.end))
    later = [span.start for span in plan.hours if span.start > clock]
    if later and clock < plan.hours[0].start:
        return words["not_yet"].format(opens=_format_time(later[0]))
    if later:
        previous_end = max(span.end for span in plan.hours if span.end <= clock)
        # a gap around midday is the lunch break; any other gap is just a break
        key = "lunch_break" if time(11, 0) <= previous_end <= time(14, 0) else "break"
        return words[key].format(reopen=_format_time(later[0]))
    next_open = _next_opening(station, now.date())
    if next_open is None:
        return words["no_next"]
    return words["closed_now"].format(next=_format_next(now.date(), next_open, lang))


def _next_opening(station: StationInfo, today: date) -> datetime | None:
    for offset in range(1, LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        hours = hours_for(station, day)
        if hours:
            return datetime.combine(day, hours[0].start)
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


def _meal_name(meal: str, lang: str) -> str:
    return MEAL_NAMES[_lang(lang)].get(meal, meal)


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
    """The live lines' sentence templates in `lang`, from the message catalogue."""
    return _TEMPLATES[_lang(lang)]


def _text(value: Localized[str], lang: str) -> str:
    return value.pick(_lang(lang)) or ""


def _local(station: StationInfo, now: datetime) -> datetime:
    tz = station.zone
    # a naive datetime is taken to be station time already
    return now.replace(tzinfo=tz) if now.tzinfo is None else now.astimezone(tz)


def _weekday_hours(station: StationInfo, day: date) -> tuple[TimeRange, ...]:
    if not station.hours:
        raise LiveDataError("station.hours: no opening hours")
    return station.hours.get(WEEKDAYS[day.weekday()], ())


def _workday_hours(station: StationInfo) -> tuple[TimeRange, ...]:
    """Hours of an adjusted working day: Monday's, or the first weekday that has hours."""
    return next((station.hours[day] for day in WEEKDAYS[:5] if station.hours.get(day)), ())


def _branches(station: StationInfo) -> tuple[Branch, ...]:
    if not station.branches:
        raise LiveDataError("station.branches: no branches listed")
    return station.branches


def _format_time(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"


def _format_interval(span: TimeRange) -> str:
    return f"{_format_time(span.start)}–{_format_time(span.end)}"


def _join_intervals(spans: tuple[TimeRange, ...], lang: str) -> str:
    return _words(lang)["list_sep"].join(_format_interval(span) for span in spans)


def _format_distance(meters: float, lang: str) -> str:
    words = _words(lang)
    if meters < 1000:
        return words["meters"].format(value=max(10, round(meters / 10) * 10))
    return words["kilometers"].format(value=f"{meters / 1000:.1f}")
