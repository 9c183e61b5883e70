"""The outbox's courier with a transport of our own: order per destination, limits, retries,
refusals reaching staff, digests of staff notices waiting behind a limit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.outbox import Button, Courier, Limit, Outgoing, Refused, Retry
from bot.storage import Storage


class Recorder:
    """A transport that records what it sends; `fail` scripts the next answers."""

    channel = "test"

    def __init__(
        self,
        per_destination: tuple[int, float] | None = None,
        whole_channel: tuple[int, float] | None = None,
    ) -> None:
        self.sent: list[tuple[float, Outgoing]] = []
        self.fail: list[Exception] = []
        self.per_destination = per_destination
        self.whole_channel = whole_channel

    def limits(self, message: Outgoing) -> list[Limit]:
        limits = []
        if self.per_destination is not None:
            count, seconds = self.per_destination
            limits.append(Limit(f"test:{message.address}", count, seconds))
        if self.whole_channel is not None:
            limits.append(Limit(self.channel, *self.whole_channel))
        return limits

    async def send(self, message: Outgoing) -> int | None:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((time.monotonic(), message))
        return len(self.sent)


@pytest.fixture
async def storage(database: str | Path):
    async with Storage.open(database) as opened:
        yield opened


async def queue(storage: Storage, *messages: Outgoing) -> None:
    async def unit(tx) -> None:
        for message in messages:
            await tx.queue(message.channel, message.address, message.kind, message.to_json())

    await storage.transact("test", unit)


async def delivered(transport: Recorder, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(transport.sent) < count:
        assert time.monotonic() < deadline, f"only {len(transport.sent)} of {count} sent"
        await asyncio.sleep(0.02)


@pytest.fixture
async def running(storage: Storage):
    couriers: list[tuple[Courier, asyncio.Task]] = []

    def start(transport: Recorder) -> Courier:
        courier = Courier(storage, [transport], digest_title=lambda n: f"{n} new")
        couriers.append((courier, asyncio.create_task(courier.run())))
        return courier

    yield start
    for courier, task in couriers:
        await courier.stop()
        task.cancel()


async def test_each_destination_gets_its_messages_in_order_and_each_once(storage, running):
    transport = Recorder()
    courier = running(transport)
    await queue(storage, *(Outgoing("test", str(n % 3), f"m{n}") for n in range(30)))
    await delivered(transport, 30)
    for address in "012":
        texts = [m.text for _, m in transport.sent if m.address == address]
        assert texts == [f"m{n}" for n in range(30) if str(n % 3) == address]
    await courier.drain()  # the last sends' marks are committed after the sends themselves
    assert await storage.outbox_counts() == {"sent": 30}


async def test_a_destinations_limit_paces_only_that_destination(storage, running):
    transport = Recorder(per_destination=(2, 1.0))
    running(transport)
    await queue(storage, *(Outgoing("test", "slow", f"s{n}") for n in range(4)))
    await queue(storage, *(Outgoing("test", f"other{n}", "x") for n in range(5)))
    await delivered(transport, 9)
    slow = [at for at, m in transport.sent if m.address == "slow"]
    others = [at for at, m in transport.sent if m.address != "slow"]
    assert slow[2] - slow[0] >= 0.95, "at most two a second into the slow chat"
    assert max(others) < slow[2], "other chats do not wait behind it"


async def test_a_channel_wide_limit_holds_over_many_chats_ready_at_once(storage, running):
    """Telegram's 30 a second over all chats (here 5): many chats with a message ready in the
    same pass still go out within it (on PostgreSQL, at send times reserved in the database)."""
    transport = Recorder(whole_channel=(5, 1.0))
    running(transport)
    await queue(storage, *(Outgoing("test", f"chat{n}", "x") for n in range(15)))
    await delivered(transport, 15)
    times = sorted(at for at, _ in transport.sent)
    busiest = max(sum(1 for t in times if start <= t < start + 0.95) for start in times)
    assert busiest <= 5
    assert times[-1] - times[0] >= 1.9, "15 at 5 a second take two seconds at least"


async def test_retry_waits_as_asked_then_sends_once(storage, running):
    transport = Recorder()
    transport.fail = [Retry("busy", 0.5)]
    running(transport)
    started = time.monotonic()
    await queue(storage, Outgoing("test", "a", "hello"))
    await delivered(transport, 1)
    assert transport.sent[0][0] - started >= 0.45
    assert [m.text for _, m in transport.sent] == ["hello"]


async def test_a_refused_message_tells_the_staff_member_who_sent_it(storage, running):
    transport = Recorder()
    transport.fail = [Refused("blocked")]
    running(transport)
    notice = {"channel": "test", "address": "staff", "text": "could not reach Q0001"}
    await queue(storage, Outgoing("test", "resident", "your answer", on_failure=notice))
    await delivered(transport, 1)
    [(_, told)] = transport.sent
    assert (told.address, told.text) == ("staff", "could not reach Q0001")
    assert (await storage.outbox_counts())["failed"] == 1


async def test_notices_waiting_behind_a_limit_become_one_digest(storage, running):
    transport = Recorder(per_destination=(2, 60.0))
    running(transport)
    notices = [
        Outgoing(
            "test", "-500", f"notice {n}", kind="notice", digest_line=f"Q{n:04d} question {n}",
            buttons=[[Button("Reply", f"st:r:Q{n:04d}")]],
        )
        for n in range(1, 31)
    ]  # fmt: skip
    await queue(storage, *notices)
    await delivered(transport, 2)
    await asyncio.sleep(0.3)
    assert len(transport.sent) == 2, "then the limit holds the rest"
    texts = "\n".join(m.text for _, m in transport.sent)
    assert all(f"Q{n:04d}" in texts for n in range(1, 21)), "20 references a digest"
    first = transport.sent[0][1]
    assert first.text.startswith("20 new") and len(first.buttons) == 20
