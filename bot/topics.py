"""The big topic buttons residents tap, and what each opens: part of the one decision path
(`stationbot match` reports a button's label as opening its topic, as the bot does)."""

from __future__ import annotations

from bot.messages import all_variants

# message key of the label -> what pressing it opens
TOPICS: dict[str, str] = {
    "topic.canteen": "category:canteen",
    "topic.hours": "entry:station.hours",
    "topic.donation": "category:donation",
    "topic.aid": "category:aid",
    "topic.services": "category:services",
    "topic.wish": "wish",
}
KEYBOARD_ROWS = (
    ("topic.canteen", "topic.hours"),
    ("topic.donation", "topic.aid"),
    ("topic.services", "topic.wish"),
)
_TARGET_OF_LABEL = {label: target for key, target in TOPICS.items() for label in all_variants(key)}


def topic_of(text: str) -> str | None:
    """The topic a big button's label opens ("category:canteen", "wish"), else None."""
    return _TARGET_OF_LABEL.get(text.strip())
