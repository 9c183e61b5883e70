"""Several workers on one PostgreSQL database, next to one process on SQLite.

This process serves the fake Bot API (tests/fake_telegram.py) in the production profile
(Telegram's limits enforced: 30 messages a second in all, 20 a minute in a group; a staff
group configured) and plays Telegram delivering webhooks through a reverse proxy: each
update is POSTed to the next worker in turn, and to another one when a worker does not
answer. Every resident message gets one reply; measured: replies per second, p50/p99 from
the POST to the reply, lost and duplicated replies, and each reply's order per resident.

    .venv/bin/python benchmarks/workers.py                 # 2 PostgreSQL workers and SQLite
    .venv/bin/python benchmarks/workers.py --kill          # kill -9 one worker mid-burst
    .venv/bin/python benchmarks/workers.py --profile bench # limits off: the workers' own speed

PostgreSQL: $STATIONBOT_TEST_PG if set, else a durable (fsync on) throwaway cluster started
with .ci/pg-cluster and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402
import yaml  # noqa: E402
from fake_telegram import BotProcess, FakeTelegram  # noqa: E402

from faq.loader import load  # noqa: E402

STAFF = 900
STAFF_GROUP = -500
SECRET = secrets.token_urlsafe(32)
PROXY_CONCURRENCY = 64  # requests in flight from the proxy to the workers
SETTLE_SECONDS = 120  # after the last POST, how long replies may take before counting lost


class TimedTelegram(FakeTelegram):
    """The fake Bot API, noting when each reply to a resident arrived."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.arrivals: dict[int, list[float]] = {}

    async def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = await super().handle(method, params)
        if method == "sendMessage" and status == 200:
            chat_id = int(params.get("chat_id") or 0)
            if chat_id > 0:
                self.arrivals.setdefault(chat_id, []).append(time.monotonic())
        return status, body


def plan(residents: int, each: int, seed: int) -> list[tuple[int, str]]:
    """(user_id, text) round-robin over residents: FAQ questions, one in ten for staff."""
    rng = random.Random(seed)
    kb = load(None)
    questions = [q for entry in kb.entries for qs in entry.questions.values() for q in qs]
    out = []
    for n in range(each):
        for user_id in range(1, residents + 1):
            if rng.random() < 0.1:
                text = f"zorbly quaffle {user_id} wixen {n} {rng.randrange(10**6)}"
            else:
                text = rng.choice(questions)
            out.append((user_id, text))
    return out


def update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Resident"},
            "from": {"id": user_id, "is_bot": False, "first_name": f"R{user_id}"},
            "text": text,
        },
    }


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker(folder: Path, fake: FakeTelegram, database: str, production: bool) -> BotProcess:
    """`stationbot run` in webhook mode on `database` (a file or a postgresql:// URL)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    bot = BotProcess(folder, fake)
    config = yaml.safe_load(bot.config_path.read_text(encoding="utf-8"))
    config["storage"] = (
        {"url": database} if database.startswith("postgresql") else {"path": database}
    )
    config["telegram"]["webhook"] = {
        "url": "https://bot.example/telegram",
        "listen": "127.0.0.1",
        "port": port,
        "secret_token": SECRET,
    }
    config["telegram"]["rate_limiter"] = production
    if production:
        config["staff"] = {"user_ids": [STAFF], "chat_id": STAFF_GROUP}
    bot.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    bot.webhook = f"http://127.0.0.1:{port}/telegram"  # type: ignore[attr-defined]
    return bot


async def until_listening(session: aiohttp.ClientSession, url: str, bot: BotProcess) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert bot.running, bot.log[-3000:]
        try:
            async with session.post(url, json={}) as response:
                if response.status in (400, 403):
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"worker at {url} never listened:\n{bot.log[-3000:]}")


async def run(
    args: argparse.Namespace, folder: Path, database: str, workers: int
) -> dict[str, float]:
    production = args.profile == "production"
    fake = TimedTelegram(enforce_limits=production)
    fake.start()
    bots = [worker(folder / f"w{n}", fake, database, production) for n in range(workers)]
    messages = plan(args.residents, args.messages, args.seed)
    posted: dict[int, list[float]] = {}
    killed = False
    try:
        for bot in bots:
            await bot.start()
        async with aiohttp.ClientSession() as session:
            for bot in bots:
                await until_listening(session, bot.webhook, bot)  # type: ignore[attr-defined]
            alive = list(bots)
            slots = asyncio.Semaphore(PROXY_CONCURRENCY)
            turn = 0
            kill_at = int(len(messages) * 0.4) if args.kill and workers > 1 else -1

            async def deliver(index: int, user_id: int, text: str) -> None:
                """The proxy: the next worker in turn; another one if it does not answer."""
                nonlocal turn
                body = update(10_000 + index, user_id, text)
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with slots:
                    for _ in range(50):
                        target = alive[turn % len(alive)]
                        turn += 1
                        try:
                            async with session.post(
                                target.webhook,  # type: ignore[attr-defined]
                                json=body,
                                headers=headers,
                                timeout=aiohttp.ClientTimeout(total=10),
                            ) as response:
                                if response.status == 200:
                                    return
                        except (aiohttp.ClientError, TimeoutError):
                            if not target.running and target in alive:
                                alive.remove(target)
                        await asyncio.sleep(0.05)
                    raise RuntimeError(f"update {index} delivered nowhere")

            started = time.monotonic()
            tasks = []
            interval = 1 / args.rate if args.rate else 0.0
            for index, (user_id, text) in enumerate(messages):
                if index == kill_at:
                    bots[-1].kill()  # kill -9 mid-burst: the proxy finds out on its own
                    killed = True
                posted.setdefault(user_id, []).append(time.monotonic())
                tasks.append(asyncio.create_task(deliver(index, user_id, text)))
                if interval:
                    await asyncio.sleep(
                        max(0.0, started + (index + 1) * interval - time.monotonic())
                    )
                elif index % PROXY_CONCURRENCY == 0:
                    await asyncio.sleep(0)
            await asyncio.gather(*tasks)
            last_post = time.monotonic()

            def replies() -> int:
                return sum(len(times) for times in fake.arrivals.values())

            deadline = last_post + SETTLE_SECONDS
            while replies() < len(messages) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await fake.settle(quiet=1.0)
    finally:
        codes = []
        for bot in bots:
            if bot.running:
                codes.append(await bot.stop())
        await fake.stop()
    for bot, code in zip([b for b in bots if not (killed and b is bots[-1])], codes, strict=False):
        if code != 0:
            print(bot.log[-3000:], file=sys.stderr)
    errors = [line for bot in bots for line in bot.log.splitlines() if " ERROR " in line]
    if args.verbose:
        for line in errors[:20]:
            print("  ", line[:200], file=sys.stderr)
    latencies, lost, extra = [], 0, 0
    for user_id, times in posted.items():
        arrived = fake.arrivals.get(user_id, [])
        lost += max(0, len(times) - len(arrived))
        extra += max(0, len(arrived) - len(times))
        # one reply per message, in order: the n-th reply answers the n-th message
        latencies += [reply - sent for sent, reply in zip(times, arrived, strict=False)]
    all_arrivals = [t for times in fake.arrivals.values() for t in times]
    span = max(all_arrivals) - started if all_arrivals else float("nan")
    ordered = sorted(latencies)
    return {
        "messages": len(messages),
        "replies": len(all_arrivals),
        "per_second": len(all_arrivals) / span,
        "p50_ms": ordered[len(ordered) // 2] * 1000 if ordered else float("nan"),
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000
        if ordered
        else float("nan"),
        "lost": lost,
        "duplicated": extra,
        "killed": killed,
        "refused": sum(1 for c in fake.calls if c.method == "sendMessage" and not c.ok),
        "errors": len(errors),
        # the killed worker's stored updates that a live one handled after its lease ran out
        "taken_over": sum(
            int(match[1])
            for bot in bots
            for match in re.finditer(r"taking over (\d+) messages", bot.log)
        ),
    }


def fresh_schema(server: str) -> str:
    """A URL of an empty schema on `server` for one run."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in server else "?"
    return f"{server}{joiner}options={quote(f'-csearch_path={schema}')}"


def show(name: str, figures: dict[str, float]) -> None:
    print(
        f"{name:<34} {figures['replies']:>5}/{figures['messages']:<5} replies"
        f"  {figures['per_second']:6.1f}/s  p50 {figures['p50_ms']:7.0f} ms"
        f"  p99 {figures['p99_ms']:7.0f} ms  lost {figures['lost']}"
        f"  duplicated {figures['duplicated']}  429s {figures['refused']}"
        f"  logged errors {figures['errors']}"
        + (f"  taken over {figures['taken_over']}" if figures["killed"] else "")
    )


async def main_async(args: argparse.Namespace) -> int:
    server = os.environ.get("STATIONBOT_TEST_PG", "")
    cluster = None
    if not server:
        cluster = Path(tempfile.mkdtemp(prefix="stationbot-bench-pg."))
        server = subprocess.run(
            [str(ROOT / ".ci" / "pg-cluster"), "start", str(cluster), "--durable"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    try:
        with tempfile.TemporaryDirectory(prefix="stationbot-workers.") as folder:
            base = Path(folder)
            print(
                f"{args.profile} profile: {args.residents} residents x {args.messages} messages"
                + (f" at {args.rate}/s" if args.rate else " (burst)")
                + (", kill -9 of one worker at 40 %" if args.kill else "")
            )
            results = []
            if not args.skip_sqlite:
                sqlite = await run(args, base / "sqlite", str(base / "sqlite" / "s.db"), 1)
                show("1 process, SQLite", sqlite)
                results.append(sqlite)
            pg = await run(args, base / "pg", fresh_schema(server), args.workers)
            show(
                f"{args.workers} workers, PostgreSQL" + (" (1 killed)" if pg["killed"] else ""),
                pg,
            )
            results.append(pg)
            return 1 if any(r["lost"] or r["duplicated"] for r in results) else 0
    finally:
        if cluster is not None:
            subprocess.run([str(ROOT / ".ci" / "pg-cluster"), "stop", str(cluster)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("production", "bench"), default="production")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5, help="per resident")
    parser.add_argument("--rate", type=float, default=0, help="updates a second (0: burst)")
    parser.add_argument("--kill", action="store_true", help="kill -9 one worker at 40 %%")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print the workers' errors")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.getLogger("tornado.access").setLevel(logging.ERROR)  # 429s are counted instead
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
