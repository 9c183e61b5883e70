"""The inbox's dispatcher: handles stored incoming messages once each, in order per resident.

A channel adapter stores what arrives (Storage.receive) before telling its channel it was
received, then submits the new rows here. Rows of one resident are handled one after the
other; different residents' rows in parallel. The row being handled is in `current_turn`, so
the core marks it handled in the same transaction as everything the message caused: after a
crash, a row whose handling had not committed is handled again (Dispatcher.start).

On PostgreSQL several worker processes share the inbox: a row is claimed with a lease before
it is handled (Storage.claim_incoming), only once the resident's earlier rows are handled,
and rows a killed worker held go to the others when its lease runs out (sweep).
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bot.storage import InboxRow, Storage, StorageError

log = logging.getLogger(__name__)

CONCURRENT_RESIDENTS = 16  # rows handled at once (each resident's one at a time)
RETRY_SECONDS = 5.0  # a row the database could not take is tried again this much later
LEASE_SECONDS = 15.0  # how long a worker's claim holds without a heartbeat (shared database)
LATER_SECONDS = 0.05  # a row behind another worker's row of the same resident: look again


@dataclass
class Turn:
    """The incoming message being handled; `finished` once its handling committed."""

    row: InboxRow
    finished: bool = False
    failed: bool = False  # the database took no write: handle it again later


current_turn: contextvars.ContextVar[Turn | None] = contextvars.ContextVar(
    "current_turn", default=None
)

Handle = Callable[[InboxRow], Awaitable[None]]


class Dispatcher:
    """Runs `handlers[row.channel](row)` for every submitted row, in order per resident."""

    def __init__(
        self,
        storage: Storage,
        handlers: dict[str, Handle],
        *,
        concurrency: int = CONCURRENT_RESIDENTS,
    ) -> None:
        self.storage = storage
        self.handlers = handlers
        self._slots = asyncio.Semaphore(concurrency)
        self._queues: dict[str, deque[InboxRow]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._known: set[int] = set()  # rows submitted and not yet handled (shared database)

    async def start(self) -> int:
        """Submits the rows a previous run stored but did not finish; returns how many."""
        rows = [row for row in await self.storage.unhandled() if row.channel in self.handlers]
        self.submit(rows)
        if rows:
            log.info("inbox: handling %d messages left from the last run", len(rows))
        return len(rows)

    def submit(self, rows: Iterable[InboxRow]) -> None:
        shared = self.storage.shared
        for row in rows:
            if shared:  # a row can come twice: received here, and from a sweep
                if row.id in self._known:
                    continue
                self._known.add(row.id)
            queue = self._queues.get(row.resident_key)
            if queue is not None:
                if shared:  # a swept row may be older than the ones waiting
                    bisect.insort(queue, row, key=lambda each: each.id)
                else:
                    queue.append(row)
                continue
            self._queues[row.resident_key] = deque([row])
            task = asyncio.create_task(self._drain(row.resident_key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def handled(self, row_id: int) -> asyncio.Future[None]:
        """A future done once row `row_id` has been handled (WeChat answers in its request)."""
        waiter = self._waiters.get(row_id)
        if waiter is None:
            waiter = self._waiters[row_id] = asyncio.get_running_loop().create_future()
        return waiter

    async def join(self) -> None:
        """Waits until every submitted row is handled."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in set(self._tasks):
            task.cancel()
        await asyncio.gather(*set(self._tasks), return_exceptions=True)

    async def sweep(self) -> int:
        """Submits the rows no live worker holds (a killed worker's); returns how many."""
        rows = await self.storage.orphaned_incoming(LEASE_SECONDS)
        rows = [row for row in rows if row.channel in self.handlers]
        fresh = [row for row in rows if row.id not in self._known]
        self.submit(fresh)
        if fresh:
            log.info("inbox: taking over %d messages no worker holds", len(fresh))
        return len(fresh)

    async def _drain(self, key: str) -> None:
        queue = self._queues[key]
        try:
            while queue:
                row = queue[0]
                verdict = "mine"
                async with self._slots:
                    if self.storage.shared:
                        verdict = await self._claim(row)
                    if verdict == "mine":
                        await self._handle(row)
                if verdict == "later":  # another worker has this resident's earlier row
                    await asyncio.sleep(LATER_SECONDS)
                    continue
                queue.remove(row)
                if row not in queue:  # (not put back to wait for the database)
                    self._known.discard(row.id)
                if verdict == "taken":
                    self._resolve(row.id)
        finally:
            del self._queues[key]

    async def _claim(self, row: InboxRow) -> str:
        try:
            return await self.storage.claim_incoming(row, LEASE_SECONDS)
        except StorageError as error:
            log.error("inbox: %s", error)
            await asyncio.sleep(RETRY_SECONDS)
            return "later"

    def _resolve(self, row_id: int) -> None:
        waiter = self._waiters.pop(row_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _handle(self, row: InboxRow) -> None:
        turn = Turn(row)
        token = current_turn.set(turn)
        try:
            await self.handlers[row.channel](row)
        except Exception:  # a bug must not stop this resident's later messages
            log.exception("inbox: handling %s message %s failed", row.channel, row.external_id)
        finally:
            current_turn.reset(token)
        if not turn.finished and not turn.failed:  # nothing to say (an edited message...)
            try:
                await self.storage.finish(row.id)
            except StorageError as error:
                log.error("inbox: %s", error)
                turn.failed = True
        if turn.failed:  # the database is not taking writes: this resident waits, in order
            await asyncio.sleep(RETRY_SECONDS)
            self._queues[row.resident_key].insert(1, row)
            return
        self._resolve(row.id)
