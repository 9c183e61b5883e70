"""Several workers on one PostgreSQL database: each incoming message handled once and in
order per resident, each outgoing one claimed by one worker (in order per destination), and
a killed worker's rows taken over by the others once its lease runs out."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.inbox import LEASE_SECONDS, Dispatcher, current_turn
from bot.outbox import Limit, SharedPace
from bot.storage import InboxRow, Storage

START = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def two_workers(pg_database: str):
    clock = Clock()
    async with (
        Storage.open(pg_database, now=clock) as first,
        Storage.open(pg_database, now=clock) as second,
    ):
        assert first.shared and second.shared and first.worker != second.worker
        for storage in (first, second):  # a worker's claims hold while it beats
            await storage.heartbeat(LEASE_SECONDS)
        yield first, second, clock


async def queue(storage: Storage, address: str, text: str) -> int:
    return await storage.queue("telegram", address, "message", f'{{"text": "{text}"}}')


async def test_an_outgoing_message_is_claimed_by_one_worker(two_workers) -> None:
    first, second, _ = two_workers
    for n in range(3):
        await queue(first, "7", f"x{n}")
    claimed = await first.claim_messages(LEASE_SECONDS)
    assert [row.payload for row in claimed] == [
        '{"text": "x0"}',
        '{"text": "x1"}',
        '{"text": "x2"}',
    ]
    assert await second.claim_messages(LEASE_SECONDS) == []
    assert await first.claim_messages(LEASE_SECONDS) == [], "a claimed row is given once"


async def test_a_destination_stays_with_the_worker_holding_its_earlier_messages(
    two_workers,
) -> None:
    first, second, _ = two_workers
    await queue(first, "7", "first to 7")
    [held] = await first.claim_messages(LEASE_SECONDS)
    await queue(second, "7", "second to 7")
    await queue(second, "8", "to 8")

    taken = await second.claim_messages(LEASE_SECONDS)

    assert [row.address for row in taken] == ["8"], "7's next message waits behind the first"
    await first.mark_sent([held.id])
    assert [row.address for row in await second.claim_messages(LEASE_SECONDS)] == ["7"]


async def test_a_claim_skips_rows_another_transaction_holds(two_workers, pg_database) -> None:
    """A claim does not wait for a row another transaction is writing (a send being recorded):
    waiting there, each holding rows the other wants, was a deadlock (CI saw it once: the
    sends' records rolled back, to be sent again)."""
    import psycopg

    first, _, _ = two_workers
    busy = await queue(first, "7", "being recorded as sent")
    await queue(first, "8", "free")
    async with await psycopg.AsyncConnection.connect(pg_database) as other:
        await other.execute("SELECT id FROM outbox WHERE id = %s FOR UPDATE", (busy,))
        claimed = await asyncio.wait_for(first.claim_messages(LEASE_SECONDS), timeout=5)
        await other.rollback()
    assert [row.address for row in claimed] == ["8"]
    assert [row.address for row in await first.claim_messages(LEASE_SECONDS)] == ["7"]


async def test_a_dead_workers_messages_go_to_the_others_when_its_lease_runs_out(
    two_workers,
) -> None:
    first, second, clock = two_workers
    await queue(first, "7", "a")
    await queue(first, "8", "b")
    assert len(await first.claim_messages(LEASE_SECONDS)) == 2
    await first.heartbeat(LEASE_SECONDS, backlog=2)
    assert await second.heartbeat(LEASE_SECONDS) == [0, 2]

    clock.at += timedelta(seconds=LEASE_SECONDS / 2)
    await second.heartbeat(LEASE_SECONDS)
    assert await second.claim_messages(LEASE_SECONDS) == []
    clock.at += timedelta(seconds=LEASE_SECONDS)  # the first was killed: no heartbeat
    await second.heartbeat(LEASE_SECONDS)
    assert sorted(row.address for row in await second.claim_messages(LEASE_SECONDS)) == [
        "7",
        "8",
    ]
    assert await second.heartbeat(LEASE_SECONDS, backlog=2) == [2]


async def test_heartbeats_keep_the_leases(two_workers) -> None:
    first, second, clock = two_workers
    await queue(first, "7", "a")
    await first.claim_messages(LEASE_SECONDS)
    for _ in range(4):
        clock.at += timedelta(seconds=LEASE_SECONDS / 2)
        await first.heartbeat(LEASE_SECONDS)
        await second.heartbeat(LEASE_SECONDS)
        assert await second.claim_messages(LEASE_SECONDS) == []
    await first.leave()  # a clean stop hands its rows back at once
    assert len(await second.claim_messages(LEASE_SECONDS)) == 1


async def test_incoming_messages_are_claimed_in_order_per_resident(two_workers) -> None:
    first, second, clock = two_workers
    r1, r2 = await first.receive(
        [("telegram", "1", "telegram:7", "{}"), ("telegram", "2", "telegram:7", "{}")]
    )
    assert await second.claim_incoming(r2, LEASE_SECONDS) == "later"
    assert await first.claim_incoming(r1, LEASE_SECONDS) == "mine"
    assert await second.claim_incoming(r1, LEASE_SECONDS) == "taken"
    await first.finish(r1.id)
    assert await second.claim_incoming(r2, LEASE_SECONDS) == "mine"
    assert await first.claim_incoming(r1, LEASE_SECONDS) == "taken", "handled already"

    [r3] = await first.receive([("telegram", "3", "telegram:8", "{}")])
    assert await first.claim_incoming(r3, LEASE_SECONDS) == "mine"
    assert await second.orphaned_incoming(LEASE_SECONDS) == []
    clock.at += timedelta(seconds=LEASE_SECONDS * 2)  # the first was killed
    await second.heartbeat(LEASE_SECONDS)
    assert [row.id for row in await second.orphaned_incoming(LEASE_SECONDS)] == [r3.id]


async def test_two_dispatchers_handle_each_message_once_in_order_per_resident(
    two_workers,
) -> None:
    first, second, _ = two_workers
    handled: list[tuple[str, str, int]] = []

    def handler(name: str, storage: Storage):
        async def handle(row: InboxRow) -> None:
            handled.append((name, row.resident_key, row.id))
            await asyncio.sleep(0.001)
            turn = current_turn.get()
            await storage.transact("handle", lambda tx: tx.finish(row.id))
            turn.finished = True

        return handle

    dispatchers = [
        Dispatcher(first, {"telegram": handler("first", first)}),
        Dispatcher(second, {"telegram": handler("second", second)}),
    ]
    rows = [("telegram", str(n), f"telegram:{n % 5}", "{}") for n in range(60)]
    for start in range(0, 60, 6):  # a proxy spreads the updates over both workers
        fresh = await first.receive(rows[start : start + 6])
        dispatchers[0].submit(fresh[::2])
        dispatchers[1].submit(fresh[1::2])
    await asyncio.gather(*(d.join() for d in dispatchers))

    assert sorted(row_id for _, _, row_id in handled) == list(range(1, 61)), "each once"
    for resident in {key for _, key, _ in handled}:
        ids = [row_id for _, key, row_id in handled if key == resident]
        assert ids == sorted(ids), f"{resident} in order"
    assert {name for name, _, _ in handled} == {"first", "second"}
    assert await first.unhandled() == []


async def test_workers_reserve_send_times_that_never_crowd_each_other(two_workers) -> None:
    """Telegram's 30 a second holds for all workers together: whatever they reserve, at the
    same moment or not, the times are at least one spacing apart."""
    first, second, _ = two_workers
    spacing = 0.1
    loop = asyncio.get_running_loop()

    async def reserve(storage: Storage) -> list[float]:
        delays = await storage.reserve_sends("telegram", 3, spacing)
        now = loop.time()
        return [now + delay for delay in delays]

    batches = await asyncio.gather(*(reserve(w) for _ in range(6) for w in (first, second)))
    times = sorted(moment for batch in batches for moment in batch)

    assert len(times) == 36
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= spacing * 0.8  # the latency of each answer blurs them a little
    assert times[-1] - times[0] >= 35 * spacing * 0.95, "36 sends take 35 spacings, not less"


async def test_shared_pace_sends_at_the_reserved_times_only() -> None:
    """The courier's side: a send waits for a reserved time, asks for more before running out,
    and drops a time it missed (used late it would crowd the next)."""
    now = [100.0]
    asked: list[int] = []
    woken: list[bool] = []

    async def reserve(count: int, spacing: float) -> list[float]:
        asked.append(count)
        return [0.5 + slot * spacing for slot in range(count)]

    pace = SharedPace(reserve, Limit("telegram", 30, 1.5), lambda: now[0], lambda: woken.append(1))
    assert pace.spacing == pytest.approx(0.05) and pace.ahead == 10
    assert pace.wait(waiting=4) == pytest.approx(0.05), "nothing reserved yet: asks"
    await asyncio.sleep(0)
    assert asked == [4] and woken
    assert pace.wait(waiting=4) == pytest.approx(0.5)
    now[0] += 0.5
    assert pace.wait(waiting=4) == 0.0
    pace.take()
    now[0] += 0.2  # the time of the second was 0.15 ago: more than a spacing late
    assert pace.wait(waiting=3) == 0.0  # the fourth (due 0.05 ago) goes; 2 and 3 dropped
    assert len(pace._times) == 1
