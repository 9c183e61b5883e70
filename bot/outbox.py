"""The outbox's sender: delivers queued messages through each channel's transport.

The core never sends: it queues `Outgoing` messages in the same transaction as the state
change that causes them. The Courier delivers them in order per destination, within each
destination's limits (a staff group at 20 a minute slows only itself), retries what a channel
could not take yet, merges staff notices waiting behind a limit into one digest, and marks
each row sent. After a crash, rows not marked sent are sent again: at most the rows that were
in flight at that moment (MAX_IN_FLIGHT) can reach someone twice.

On PostgreSQL several worker processes share the outbox: each sends the rows it claimed with
a lease (Storage.claim_messages: a destination's rows stay with one worker while any is
held), at send times it reserved in the database for each channel-wide limit (Telegram's 30
a second), so that all workers together keep to it (SharedPace).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.storage import OutboxRow, Storage, StorageError, parse_time

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 32  # messages being sent at once, over all destinations
DIGEST_MAX = 20  # notices merged into one digest (3 buttons each: Telegram allows 100)
IDLE_POLL_SECONDS = 5.0  # look at the outbox at least this often (rows queued by another process)
MAX_ATTEMPTS = 8  # an unexpected failure is retried this often, backing off, then given up
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
LEASE_SECONDS = 15.0  # a claimed row stays this worker's this long without a heartbeat


@dataclass(frozen=True)
class Button:
    """An inline button: its label and its callback data (at most 64 bytes)."""

    label: str
    data: str


@dataclass
class Outgoing:
    """One message for one destination, as the core means it; transports render it.

    kind "message": text with optional buttons or keyboard; "notice": a staff notification,
    merged with others waiting for the same destination into a digest; "document": a file;
    "retire": remove the buttons of an earlier message (`message_id`).
    """

    channel: str
    address: str
    text: str = ""
    kind: str = "message"
    buttons: list[list[Button]] = field(default_factory=list)
    keyboard: list[list[str]] | None = None
    html: bool = False  # text is HTML with every resident-written part escaped
    ref: str | None = None  # replies to the sent message come back under this reference
    quote: int | None = None  # the message to answer (in groups)
    message_id: int | None = None  # for "retire"
    force_reply: bool = False  # ask the staff member to reply to this message
    digest_line: str = ""  # a notice's one line in a digest
    merge_key: str | None = None  # a second notice with this key, while one waits, is not queued
    document: str | None = None  # path of the file to send; deleted once sent
    filename: str | None = None
    # tell staff if refused: {text, ref (noted on the item), channel and address (sent to)}
    on_failure: dict[str, str] | None = None

    def to_json(self) -> str:
        """The message as stored in the outbox: fields left at their defaults are left out
        (most messages are a text and a few buttons; this runs for every message)."""
        data: dict[str, Any] = {}
        for name, default in _DEFAULTS.items():
            value = getattr(self, name)
            if value != default:
                data[name] = value
        if self.buttons:
            data["buttons"] = [[[b.label, b.data] for b in row] for row in self.buttons]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, payload: str) -> Outgoing:
        data: dict[str, Any] = json.loads(payload)
        data["buttons"] = [[Button(*button) for button in row] for row in data.get("buttons", [])]
        return cls(**data)


# every field but the buttons, with its default ("channel" and "address" have none)
_DEFAULTS: dict[str, Any] = {
    f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    else object()
    for f in dataclasses.fields(Outgoing)
    if f.name != "buttons"
}


@dataclass(frozen=True)
class Limit:
    """At most `count` messages in any `seconds` under `key` (a chat, or a whole channel)."""

    key: str
    count: int
    seconds: float


class Retry(Exception):
    """The channel did not take the message now; try again after `after` seconds."""

    def __init__(self, reason: str, after: float, *, whole_channel: bool = False) -> None:
        super().__init__(reason)
        self.after = after
        self.whole_channel = whole_channel


class Refused(Exception):
    """The channel will never take this message (blocked bot, closed 48-hour window)."""


class Transport(Protocol):
    """A channel's way out: renders and sends one Outgoing, returns its message id if any."""

    channel: str

    def limits(self, message: Outgoing) -> Sequence[Limit]: ...

    async def send(self, message: Outgoing) -> int | None: ...


class Windows:
    """Sliding-window counters for Limits."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._paused_until: dict[str, float] = {}

    def wait(self, limits: Sequence[Limit]) -> float:
        """Seconds until a message under all `limits` may go (0: now)."""
        now = self._clock()
        wait = 0.0
        for limit in limits:
            wait = max(wait, self._paused_until.get(limit.key, 0.0) - now)
            times = self._sent.get(limit.key)
            if times is None:
                continue
            while times and now - times[0] >= limit.seconds:
                times.popleft()
            if len(times) >= limit.count:
                wait = max(wait, times[0] + limit.seconds - now)
        return wait

    def paused(self, key: str) -> float:
        """Seconds `key` (a destination) is still asked to wait after a failure."""
        return max(0.0, self._paused_until.get(key, 0.0) - self._clock())

    def free(self, limit: Limit) -> int:
        """How many more messages fit under `limit` right now."""
        self.wait([limit])  # drops expired times
        return limit.count - len(self._sent.get(limit.key, ()))

    def take(self, limits: Sequence[Limit]) -> None:
        now = self._clock()
        for limit in limits:
            self._sent.setdefault(limit.key, deque()).append(now)

    def resume(self, key: str) -> None:
        """Ends a pause of `key` early."""
        self._paused_until.pop(key, None)

    def pause(self, key: str, seconds: float) -> None:
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), self._clock() + seconds)

    def forget_idle(self) -> None:
        """Drops counters with nothing in their window (a chat not written to lately)."""
        now = self._clock()
        for key in [k for k, until in self._paused_until.items() if until <= now]:
            del self._paused_until[key]
        for key in [k for k, times in self._sent.items() if not times or now - times[-1] > 3600]:
            del self._sent[key]


class SharedPace:
    """A channel-wide limit that several workers share: send times evenly spaced (Telegram's
    30 in 1.03 s: one every 34 ms), reserved in the database a few at a time after every time
    any worker reserved. All workers together then never send faster than the limit, however
    their backlogs change, for one short statement per few messages sent."""

    def __init__(
        self,
        reserve: Callable[[int, float], Any],
        limit: Limit,
        clock: Callable[[], float],
        on_reserved: Callable[[], None],
    ) -> None:
        self._reserve = reserve  # (count, spacing) -> awaitable of seconds from now
        self.spacing = limit.seconds / limit.count
        self.ahead = max(1, limit.count // 3)  # a third of a second's worth, at most
        self._clock = clock
        self._on_reserved = on_reserved
        self._times: deque[float] = deque()
        self._reserving: asyncio.Task[None] | None = None

    def wait(self, waiting: int) -> float:
        """Seconds until the next reserved time (0: now), reserving more for `waiting`
        messages when few are left; a time missed by more than one spacing is dropped (used
        late, it would crowd the next one)."""
        now = self._clock()
        while self._times and self._times[0] < now - self.spacing:
            self._times.popleft()
        wanted = min(self.ahead, waiting) - len(self._times)
        if wanted > 0 and self._reserving is None:
            self._reserving = asyncio.create_task(self._reserve_times(wanted))
        if self._times:
            return max(0.0, self._times[0] - now)
        return self.spacing  # woken when the reservation is back

    def take(self) -> None:
        self._times.popleft()

    async def _reserve_times(self, count: int) -> None:
        try:
            delays = await self._reserve(count, self.spacing)
            now = self._clock()
            self._times.extend(now + delay for delay in delays)
        except StorageError as error:
            log.error("outbox: %s", error)
            await asyncio.sleep(1.0)
        finally:
            self._reserving = None
            self._on_reserved()


def digest(notices: Sequence[Outgoing], title: str) -> Outgoing:
    """One message naming every notice waiting for a destination, each with its buttons."""
    first = notices[0]
    lines = [title, *(notice.digest_line for notice in notices)]
    rows = [row for notice in notices for row in notice.buttons]
    return Outgoing(
        channel=first.channel,
        address=first.address,
        text="\n".join(lines),
        kind="message",
        buttons=rows,
        html=first.html,
    )


class Courier:
    """Delivers the outbox: run() until stop(); wake() when something was queued."""

    def __init__(
        self,
        storage: Storage,
        transports: Sequence[Transport],
        *,
        digest_title: Callable[[int], str],
        clock: Callable[[], float] = time.monotonic,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.storage = storage
        self.transports = {transport.channel: transport for transport in transports}
        self.digest_title = digest_title
        self.windows = Windows(clock)
        self.max_in_flight = max_in_flight
        self._clock = clock
        self._wake = asyncio.Event()
        # the outbox as read so far: waiting messages per destination, oldest first
        self._waiting: dict[str, deque[tuple[OutboxRow, Outgoing]]] = {}
        self._read_up_to = 0  # the last outbox id read
        self._in_flight: dict[int, str] = {}  # row id -> destination
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._idle = asyncio.Event()
        self._known: set[int] = set()  # claimed rows read so far (shared database)
        self._paces: dict[str, SharedPace] = {}  # channel-wide limits (shared database)
        storage.on_queued(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Sends until stop(); a database hiccup is logged and the loop goes on."""
        tidied = self._clock()
        while not self._stopping:
            if self._clock() - tidied > 60:
                self.windows.forget_idle()
                tidied = self._clock()
            self._wake.clear()
            try:
                pause = await self._send_due()
            except StorageError as error:
                log.error("outbox: %s", error)
                pause = IDLE_POLL_SECONDS
            if pause is None and not self._in_flight:
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause or IDLE_POLL_SECONDS)

    async def stop(self, grace: float = 5.0) -> None:
        """Stops taking new rows; lets the ones in flight finish for up to `grace` seconds."""
        self._stopping = True
        self.wake()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)

    async def drain(self, timeout: float = 10.0) -> None:
        """Waits until nothing due is left (the console and tests wait for replies this way)."""
        deadline = self._clock() + timeout
        while self._clock() < deadline:
            self._idle.clear()
            self.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), max(0.01, deadline - self._clock()))
                return

    async def _read_new(self) -> None:
        """Adds the rows queued since the last read (by this process or another)."""
        while True:
            if self.storage.shared:  # the rows this worker claims, wherever they were queued
                claimed = await self.storage.claim_messages(LEASE_SECONDS)
                rows = [row for row in claimed if row.id not in self._known]
                self._known.update(row.id for row in rows)
                if len(self._known) > 100_000:  # sent long ago: never claimed again
                    self._known = {row.id for q in self._waiting.values() for row, _ in q}
            else:
                rows = await self.storage.due_messages(after=self._read_up_to)
            now_utc = datetime.now(UTC)
            for row in rows:
                self._read_up_to = max(self._read_up_to, row.id)
                destination = f"{row.channel}:{row.address}"
                self._waiting.setdefault(destination, deque()).append(
                    (row, Outgoing.from_json(row.payload))
                )
                if row.not_before and (later := parse_time(row.not_before)) > now_utc:
                    # a retry time from before a restart
                    self.windows.pause(destination, (later - now_utc).total_seconds())
            if len(rows) < 1000:
                return

    async def _send_due(self) -> float | None:
        """Starts every send that may go now; returns the seconds until the next may (None:
        nothing is waiting)."""
        await self._read_new()
        busy = set(self._in_flight.values())
        next_pause: float | None = None
        ready = []  # destinations whose own limits let their next message go now
        for destination, waiting in list(self._waiting.items()):
            if not waiting:
                del self._waiting[destination]
                continue
            if destination in busy:
                next_pause = _sooner(next_pause, IDLE_POLL_SECONDS)  # woken when it is done
                continue
            row, message = waiting[0]
            transport = self.transports.get(row.channel)
            if transport is None:  # another process serves that channel
                continue
            limits, pace = self._limits(transport, message)
            wait = max(
                self.windows.wait(limits),
                self.windows.paused(destination),
                self.windows.paused(row.channel),  # a token refused: the whole channel waits
            )
            if wait > 0:
                next_pause = _sooner(next_pause, wait)
                continue
            ready.append((destination, waiting, transport, limits, pace))
        # a shared pace reserves times for the messages that could go, not for those held
        # back by their chat's own limit (reserved and unused, a time is lost to every worker)
        unpaced = Counter(id(pace) for *_, pace in ready if pace)
        for destination, waiting, transport, limits, pace in ready:
            # again: the sends started above count against channel-wide windows
            wait = self.windows.wait(limits)
            if pace and not wait:
                wait = pace.wait(unpaced[id(pace)])
            if wait > 0:
                next_pause = _sooner(next_pause, wait)
                continue
            if pace:
                unpaced[id(pace)] -= 1
            if len(self._in_flight) >= self.max_in_flight:
                return _sooner(next_pause, 0.05)
            batch = self._batch(list(waiting), limits)
            self.windows.take(limits)
            if pace:
                pace.take()
            for each, _ in batch:
                self._in_flight[each.id] = destination
            task = asyncio.create_task(self._deliver(transport, destination, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._in_flight:
            next_pause = _sooner(next_pause, IDLE_POLL_SECONDS)
        return next_pause

    @property
    def backlog(self) -> int:
        """Messages read and not yet sent."""
        return sum(len(waiting) for waiting in self._waiting.values())

    def _limits(
        self, transport: Transport, message: Outgoing
    ) -> tuple[Sequence[Limit], SharedPace | None]:
        """The transport's limits to count here, and the shared pace that replaces its
        channel-wide limit when several workers send on the channel."""
        limits = transport.limits(message)
        if not self.storage.shared:
            return limits, None
        channel = transport.channel
        whole = next((limit for limit in limits if limit.key == channel), None)
        if whole is None:
            return limits, None
        pace = self._paces.get(channel)
        if pace is None:
            pace = self._paces[channel] = SharedPace(
                lambda count, spacing: self.storage.reserve_sends(channel, count, spacing),
                whole,
                self._clock,
                self.wake,
            )
        return [limit for limit in limits if limit.key != channel], pace

    def _batch(
        self, waiting: list[tuple[OutboxRow, Outgoing]], limits: Sequence[Limit]
    ) -> list[tuple[OutboxRow, Outgoing]]:
        """The first waiting message; if it is a notice and more notices are waiting than the
        destination's limits let through now, all of them (up to DIGEST_MAX), to merge."""
        first = waiting[0]
        if first[1].kind != "notice":
            return [first]
        notices = [pair for pair in waiting if pair[1].kind == "notice"]
        room = min((self.windows.free(limit) for limit in limits), default=len(notices))
        if len(notices) <= max(room, 1):
            return [first]
        return notices[:DIGEST_MAX]

    async def _deliver(
        self, transport: Transport, destination: str, batch: list[tuple[OutboxRow, Outgoing]]
    ) -> None:
        ids = [row.id for row, _ in batch]
        messages = [message for _, message in batch]
        message = (
            messages[0]
            if len(messages) == 1
            else digest(messages, self.digest_title(len(messages)))
        )
        try:
            message_id = await transport.send(message)
        except Retry as error:
            self.windows.pause(
                transport.channel if error.whole_channel else destination, error.after
            )
            await self._postpone(ids, error.after, str(error))
        except Refused as error:
            log.warning(
                "outbox: %s refused a message to %s: %s", transport.channel, message.address, error
            )
            await self._refused(ids, messages, str(error))
            self._forget(destination, ids)
        except Exception as error:  # a bug or an unexpected answer: back off, then give up
            attempts = max(row.attempts for row, _ in batch) + 1
            log.exception("outbox: sending a message to %s failed", message.channel)
            if attempts >= MAX_ATTEMPTS:
                await self._refused(ids, messages, f"{type(error).__name__}: {error}")
                self._forget(destination, ids)
            else:
                delay = min(FIRST_BACKOFF_SECONDS * 2**attempts, MAX_BACKOFF_SECONDS)
                self.windows.pause(destination, delay)
                self._count_attempt(destination, ids)
                await self._postpone(ids, delay, f"{type(error).__name__}: {error}")
        else:
            await self._sent(ids, messages, message_id, len(messages) == 1)
            self._forget(destination, ids)
        finally:
            for row_id in ids:
                self._in_flight.pop(row_id, None)
            self.wake()

    def withdraw(self, channel: str, address: str, row_id: int) -> None:
        """Forgets a row delivered another way (WeChat's answer in the HTTP request), in case
        it was read already (one already being sent is past recall), and ends the wait its
        hold put on the destination, so what follows it goes now."""
        destination = f"{channel}:{address}"
        if row_id not in self._in_flight:
            self._forget(destination, [row_id])
            self.windows.resume(destination)
            self.wake()

    def _forget(self, destination: str, ids: list[int]) -> None:
        """Drops delivered (or refused) rows from the destination's queue."""
        done = set(ids)
        waiting = self._waiting.get(destination)
        if waiting is None:
            return
        if len(ids) == 1 and waiting and waiting[0][0].id in done:
            waiting.popleft()  # the usual case: the first message went
        else:
            waiting = deque(pair for pair in waiting if pair[0].id not in done)
            self._waiting[destination] = waiting
        if not waiting:
            del self._waiting[destination]

    def _count_attempt(self, destination: str, ids: list[int]) -> None:
        failed = set(ids)
        waiting = self._waiting.get(destination, deque())
        self._waiting[destination] = deque(
            (dataclasses.replace(row, attempts=row.attempts + 1), message)
            if row.id in failed
            else (row, message)
            for row, message in waiting
        )

    async def _sent(
        self, ids: list[int], messages: list[Outgoing], message_id: int | None, single: bool
    ) -> None:
        async def record(tx: Any) -> None:
            await tx.mark_sent(ids)
            ref = messages[0].ref
            if (
                single
                and ref
                and message_id is not None
                and messages[0].address.lstrip("-").isdigit()
            ):
                await tx.link_staff_message(ref, int(messages[0].address), message_id)

        try:
            await self.storage.transact("record a sent message", record)
        except StorageError as error:  # sent, but may be sent again after a restart
            log.error("outbox: %s", error)
        for message in messages:
            if message.document:
                with contextlib.suppress(OSError):
                    os.unlink(message.document)

    async def _postpone(self, ids: list[int], after: float, reason: str) -> None:
        try:
            await self.storage.retry_later(
                ids, datetime.now(UTC) + timedelta(seconds=after), reason
            )
        except StorageError as error:
            log.error("outbox: %s", error)

    async def _refused(self, ids: list[int], messages: list[Outgoing], reason: str) -> None:
        async def record(tx: Any) -> None:
            await tx.give_up(ids, reason)
            for message in messages:
                notice = message.on_failure
                if not notice:
                    continue
                if notice.get("ref"):  # on the item too: every staff front end shows it
                    await tx.add_note(notice["ref"], notice["text"], actor="system")
                if notice.get("channel"):
                    tell = Outgoing(notice["channel"], notice["address"], notice["text"])
                    await tx.queue(tell.channel, tell.address, tell.kind, tell.to_json())

        try:
            await self.storage.transact("record a refused message", record)
        except StorageError as error:
            log.error("outbox: %s", error)


def _sooner(current: float | None, candidate: float) -> float:
    return candidate if current is None else min(current, candidate)
