"""Where the Telegram handlers (resident and staff) find the Station they serve."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telegram.ext import ContextTypes

    from bot.core import Station
    from bot.staff import StaffDesk

STATION_KEY = "station"  # where the Station lives in Application.bot_data
DESK_KEY = "desk"  # and the StaffDesk


def station_of(context: ContextTypes.DEFAULT_TYPE) -> Station:
    """The Station this application serves."""
    return context.application.bot_data[STATION_KEY]


def desk_of(context: ContextTypes.DEFAULT_TYPE) -> StaffDesk:
    """The staff core this application serves."""
    return context.application.bot_data[DESK_KEY]
