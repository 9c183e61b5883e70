"""TEMPORARY shim of the staff core (issue 9's `StaffDesk` in bot/staff.py) for the web console.

Same names and signatures as the real StaffDesk, backed by today's functions of bot/staff.py,
so handlers/staff_web.py is written against the final interface. At merge this module goes:
import Actor, StaffDesk from bot.staff instead. Integration points are marked INTEGRATION.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from bot import staff
from bot.config import Config, load_station_faq
from bot.staff import Delivery, Pool, StaffError, StaffStats, TeachResult
from bot.storage import Item, Storage
from faq.loader import FaqError
from faq.matcher import Matcher
from faq.model import KnowledgeBase, MatchResult

__all__ = ["Actor", "StaffDesk", "StaffError"]


@dataclass(frozen=True)
class Actor:
    """Who does a staff action, on which channel ("telegram" | "web" | "cli")."""

    channel: str
    id: str
    name: str


async def _send_nowhere(delivery: Delivery) -> int | None:
    """INTEGRATION: the real StaffDesk queues `delivery` in the outbox in the same transaction
    as the state change. Until it lands, web replies are recorded but not sent."""
    return None


class StaffDesk:
    """Every staff action, with who did it; the web console only renders what it returns."""

    def __init__(
        self, config: Config, storage: Storage, kb: KnowledgeBase, matcher: Matcher | None = None
    ) -> None:
        self.config = config
        self.storage = storage
        self.kb = kb
        self.matcher = matcher or Matcher(kb, config.matching)

    @classmethod
    async def create(cls, config: Config, storage: Storage) -> StaffDesk:
        kb = await asyncio.to_thread(load_station_faq, config)
        return cls(config, storage, kb)

    async def inbox(self, kind: str | None = None) -> list[Item]:
        items = await staff.inbox(self.storage, oldest_first=True)
        return [item for item in items if kind is None or item.kind == kind]

    async def item(self, ref: str) -> Item:
        return await staff.get_item(self.storage, ref)

    async def reply(self, ref: str, text: str, *, actor: Actor) -> Item:
        item = await staff.reply(
            self.storage, ref, text, staff_id=_telegram_id(actor), send=_send_nowhere
        )
        await self._record(item.ref, actor, "reply", text.strip())
        return item

    async def resolve(self, ref: str, note: str = "", *, actor: Actor) -> Item:
        item = await staff.resolve(self.storage, ref, note.strip(), staff_id=_telegram_id(actor))
        await self._record(item.ref, actor, "resolve", note.strip())
        return item

    async def set_wish_status(self, ref: str, status: str, note: str = "", *, actor: Actor) -> Item:
        item = await staff.set_wish_status(
            self.storage, ref, status, note, staff_id=_telegram_id(actor), send=_send_nowhere
        )
        await self._record(item.ref, actor, f"wish_status:{status}", note.strip())
        return item

    async def teach(self, ref: str, entry_id: str, *, actor: Actor) -> TeachResult:
        """Teaches the phrasing and tells the resident the answer. The matcher is rebuilt by
        reload() (1.5 s with the bundled FAQ), once after a whole group was taught."""
        overlay = self.config.overlay_path
        assert overlay is not None  # Config sets it next to the database
        result = await staff.teach(
            self.storage,
            ref,
            entry_id,
            kb=self.kb,
            overlay_path=overlay,
            faq_path=self.config.faq_path,
        )
        entry = self.kb.get(entry_id)
        item = await self.item(ref)
        if entry is not None and item.status == "open":
            language = await staff.resident_language(self.storage, item)
            answer = entry.answer.get(language) or next(iter(entry.answer.values()), "")
            # INTEGRATION: the real StaffDesk queues the answer through the outbox
            await staff.reply(
                self.storage, ref, answer, staff_id=_telegram_id(actor), send=_send_nowhere
            )
        await self._record(result.ref, actor, "teach", entry_id)
        return result

    async def wishes(self, status: str | None = None) -> list[Pool]:
        return await staff.wishes(self.storage, status)

    async def stats(self, days: int = 7) -> StaffStats:
        return await staff.stats(self.storage, days=days)

    async def export_csv(self) -> bytes:
        data, _ = await staff.export(self.storage)
        return data

    async def try_question(self, text: str) -> MatchResult:
        return self.matcher.match(text)

    # --- not part of StaffDesk's interface: the shim's own plumbing ---

    async def reload(self) -> None:
        """INTEGRATION: picks up the overlay just written; the bot process's Station does the
        same within a minute (FileWatch), the real StaffDesk shares the Station's matcher."""
        try:
            kb = await asyncio.to_thread(load_station_faq, self.config)
        except FaqError as error:
            raise StaffError(f"the FAQ does not load: {error}") from None
        self.kb, self.matcher = kb, Matcher(kb, self.config.matching)

    @property
    def overlay_path(self) -> Path:
        assert self.config.overlay_path is not None
        return self.config.overlay_path

    async def _record(self, ref: str, actor: Actor, action: str, detail: str) -> None:
        await self.storage.record_staff_action(
            ref,
            channel=actor.channel,
            actor_id=actor.id,
            actor_name=actor.name,
            action=action,
            detail=detail,
        )


def _telegram_id(actor: Actor) -> int | None:
    """status_history.staff_id holds Telegram ids; other channels are in staff_actions."""
    return int(actor.id) if actor.channel == "telegram" and actor.id.isdigit() else None
