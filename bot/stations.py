"""Several 市民驿站 in one deployment (a district): each station's place, hours, canteen and
staff, as config.yaml's `stations:` lists them, and who sees what.

A station is a `Site` here: `bot.core.Station` is the resident core. With no `stations:`
the bot is one station, as before, and nothing in this module changes what it does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faq.model import Branch, StationInfo

# ids go into callback data ("1:home:<id>") and the database: short, plain and stable
STATION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Site:
    """One station of the district: where it is (a Branch: id, name, address, phone,
    position, streets), its own hours, holidays and canteen (`data`; what it leaves out is
    the shared station data's), its optional FAQ folder and its staff."""

    place: Branch
    data: Mapping[str, Any] = field(default_factory=dict)  # StationInfo fields it sets itself
    faq_path: Path | None = None  # extra or replacing entries for its residents
    staff_user_ids: frozenset[int] = frozenset()
    staff_chat_id: int | None = None

    @property
    def id(self) -> str:
        return self.place.id

    def name(self, language: str) -> str:
        return self.place.name.pick(language) or self.id

    def info(self, shared: StationInfo, district: Sequence[Site]) -> StationInfo:
        """The station data its residents' answers use: the shared data with its own on top,
        every station of the district as the branches (nearest, by street), itself as home."""
        return dataclasses.replace(
            shared,
            **self.data,
            branches=tuple(site.place for site in district),
            phone=self.place.phone or shared.phone,
            home=self.id,
        )

    @property
    def staff_targets(self) -> list[int]:
        """Where its staff are told of a new item: its staff group, else each of its staff."""
        if self.staff_chat_id is not None:
            return [self.staff_chat_id]
        return sorted(self.staff_user_ids)


def site_of(sites: Sequence[Site], station_id: str | None) -> Site | None:
    """The station with this id, or None (no id, or one no longer configured)."""
    if station_id is None:
        return None
    return next((site for site in sites if site.id == station_id), None)


def home_of(sites: Sequence[Site], station_id: str | None) -> Site | None:
    """A resident's home station: the one they chose, else the only one there is."""
    if len(sites) == 1:
        return sites[0]
    return site_of(sites, station_id)


def several(sites: Sequence[Site]) -> bool:
    """True when residents have a station to choose (two or more configured)."""
    return len(sites) > 1


def staff_station(
    sites: Sequence[Site], district_staff: frozenset[int], user_id: int
) -> str | None:
    """The station a Telegram staff member works for; None = the whole district (listed in
    staff.user_ids, or the deployment has fewer than two stations)."""
    if not several(sites) or user_id in district_staff:
        return None
    return next((site.id for site in sites if user_id in site.staff_user_ids), None)


def all_staff(sites: Sequence[Site], district_staff: frozenset[int]) -> frozenset[int]:
    """Every Telegram user id that is staff somewhere in the deployment."""
    return district_staff.union(*(site.staff_user_ids for site in sites))
