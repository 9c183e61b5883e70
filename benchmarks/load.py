"""Load benchmark: simulated residents against the fake Bot API, `stationbot run` as a subprocess.

This process serves the fake Bot API (tests/fake_telegram.py) and plays the residents.

Bench profile (default): the bot runs with Telegram's limits off and no staff, so what is
measured is the bot itself. Prints replies per second, p50/p99 latency from update to reply,
the bot's peak RSS, and lost and duplicated replies.

Production profile (--profile production): limits on, a staff group, and a fake Telegram that
enforces 20 messages a minute per group and 30 a second in all (429 with retry_after). A wave
of 60 questions the FAQ cannot answer, then 20 other residents ask 食堂几点开门: how long the
slowest of those 20 waits, how long until every reference reached the staff group, and (with
--kill) what a kill -9 while notices queue costs. With --check, exits 1 when a target of
docs/benchmarks.md is missed.

    .venv/bin/python benchmarks/load.py                      # burst: as fast as the bot goes
    .venv/bin/python benchmarks/load.py --rate 300           # paced: 300 messages a second
    .venv/bin/python benchmarks/load.py --residents 1000 --messages 10 --mix unanswered
    .venv/bin/python benchmarks/load.py --rate 300 --messages 15 --mix dictated
    .venv/bin/python benchmarks/load.py --profile production --kill

The WeChat profile (--channel wechat) plays WeChat's servers instead: signed POSTs to the
bot's web server (plaintext, or --safe-mode), each resident's messages one after another as
WeChat delivers them; a reply is the passive reply in the HTTP answer or, when the bot was
too slow for that, a customer-service message to the fake WeChat API (tests/fake_wechat.py).
Latency is from POST to the answer. The bot runs WeChat alone (no Telegram token).

    .venv/bin/python benchmarks/load.py --channel wechat --rate 300
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402
import yaml  # noqa: E402
from fake_telegram import BotProcess, FakeTelegram  # noqa: E402
from fake_wechat import (  # noqa: E402
    APP_ID,
    APP_SECRET,
    ENCODING_AES_KEY,
    TOKEN,
    FakeWeChat,
    open_safe_mode_reply,
    plaintext_post,
    safe_mode_post,
    text_xml,
    url_check_query,
)

from faq.loader import load  # noqa: E402
from handlers.match_cli import read_eval_file  # noqa: E402
from handlers.wechat_protocol import read_fields  # noqa: E402

TARGET_REPLIES_PER_SECOND = 300
TARGET_FAQ_DURING_WAVE_S = 3.0  # production: the slowest FAQ answer during a wave
TARGET_STAFF_TOLD_S = 100.0  # production: every reference of the wave in the staff group
WAVE = 60
ASKING = 20
STAFF = 900
STAFF_GROUP = -500
REF = re.compile(r"Q\d{4,}")
TARGET_P99_MS = 250
TARGET_RSS_MB = 150
DRAIN_SECONDS = 120  # after the last message, how long replies may take before counting lost


def faq_questions() -> list[str]:
    """Every question of the bundled FAQ, as residents would ask them."""
    kb = load(None)
    return [q for entry in kb.entries for qs in entry.questions.values() for q in qs]


def dictated_questions() -> list[str]:
    """The messages of the project's dictated tuning sets (tests/data/dictated-tune*.yaml):
    long run-on questions as residents speak them, a quarter of them out of scope."""
    sets = sorted((ROOT / "tests" / "data").glob("dictated-tune*.yaml"))
    return [question for path in sets for question, _ in read_eval_file(str(path))]


def messages(residents: int, each: int, mix: str, seed: int) -> list[tuple[int, str]]:
    """(user_id, text) in sending order: round-robin over residents, `each` messages apiece.

    mix "faq": FAQ questions, some with a character dropped, and one in five unanswerable;
    mix "unanswered": every message a new question for staff (each one a row in SQLite);
    mix "dictated": the dictated tuning sets' messages (answers, suggestions, saved questions
    and fraud warnings, as those sets get them).
    """
    rng = random.Random(seed)
    if mix == "dictated":
        dictated = dictated_questions()
        return [
            (user_id, rng.choice(dictated))
            for _ in range(each)
            for user_id in range(1, residents + 1)
        ]
    questions = faq_questions()
    out = []
    for n in range(each):
        for user_id in range(1, residents + 1):
            if mix == "unanswered" or rng.random() < 0.2:
                text = f"zorbly quaffle {user_id} wixen {n} {rng.randrange(10**6)}"
            else:
                text = rng.choice(questions)
                if len(text) > 4 and rng.random() < 0.3:  # a typo: one character missing
                    cut = rng.randrange(len(text))
                    text = text[:cut] + text[cut + 1 :]
            out.append((user_id, text))
    return out


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc (Linux only)")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    fake = FakeTelegram()
    fake.start()
    bot = BotProcess(
        folder,
        fake,
        {
            "telegram": {"rate_limiter": False},
            "limits": {"flood_messages": 10_000, "flood_seconds": 1},
        },
    )
    await bot.start()
    try:
        warm = fake.message("食堂几点开门", user_id=10**9)
        await fake.replies(warm, timeout=60)
        await fake.settle()
        plan = messages(args.residents, args.messages, args.mix, args.seed)
        first_call = len(fake.calls)
        pushed: dict[int, list[float]] = {}
        bot_cpu_before = cpu_seconds(bot.process.pid)
        driver_cpu_before = time.process_time()
        start = time.monotonic()
        for index, (user_id, text) in enumerate(plan):
            if args.rate:
                delay = start + index / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            pushed.setdefault(user_id, []).append(time.monotonic())
            fake.message(text, user_id=user_id, language_code="zh-hans")
        deadline = time.monotonic() + DRAIN_SECONDS

        def replies() -> list:
            return [c for c in fake.calls[first_call:] if c.method == "sendMessage" and c.ok]

        while len(replies()) < len(plan) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await fake.settle(quiet=0.5)
        rss = peak_rss_mb(bot.process.pid)
        bot_cpu = cpu_seconds(bot.process.pid) - bot_cpu_before
        driver_cpu = time.process_time() - driver_cpu_before
        sent = replies()
    finally:
        code = await bot.stop()
        await fake.stop()
    if code != 0:
        print(bot.log[-3000:], file=sys.stderr)
        raise SystemExit(f"the bot exited with {code}")
    by_chat: dict[int, list[float]] = {}
    for call in sent:
        by_chat.setdefault(call.chat_id, []).append(call.at)
    latencies, lost, duplicated = [], 0, 0
    for user_id, times in pushed.items():
        answered = by_chat.get(user_id, [])
        lost += max(0, len(times) - len(answered))
        duplicated += max(0, len(answered) - len(times))
        # one reply per message, in order: each resident's updates are handled in order
        latencies += [(reply - asked) * 1000 for asked, reply in zip(times, answered, strict=False)]
    span = max(call.at for call in sent) - start
    with sqlite3.connect(folder / "station.db") as db:
        rows = db.execute("SELECT COUNT(*) FROM questions WHERE user_id < ?", (10**9,)).fetchone()
    return {
        "messages": len(plan),
        "replies": len(sent),
        "seconds": span,
        "replies_per_second": len(sent) / span,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "peak_rss_mb": rss,
        "bot_cpu_seconds": bot_cpu,
        "driver_cpu_seconds": driver_cpu,
        "lost": lost,
        "duplicated": duplicated,
        "rows": rows[0],
        "errors": bot.log.count(" ERROR "),
    }


async def run_production(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    fake = FakeTelegram(enforce_limits=True)
    fake.chat_types[STAFF_GROUP] = "supergroup"
    fake.start()
    bot = BotProcess(folder, fake, {"staff": {"user_ids": [STAFF], "chat_id": STAFF_GROUP}})
    await bot.start()
    killed_with_unsent = 0
    try:
        await fake.replies(fake.message("食堂几点开门", user_id=10**9), timeout=60)
        await fake.settle()
        first_call = len(fake.calls)
        start = time.monotonic()
        for user_id in range(1, WAVE + 1):
            fake.message(f"zorbly quaffle {user_id} wixen", user_id=user_id)
        asked: dict[int, float] = {}
        for user_id in range(1001, 1001 + ASKING):
            asked[user_id] = time.monotonic()
            fake.message("食堂几点开门", user_id=user_id)

        def answered() -> dict[int, float]:
            return {
                c.chat_id: c.at
                for c in fake.calls[first_call:]
                if c.method == "sendMessage" and c.ok and c.chat_id in asked
            }

        # (as soon as the first answers go out: once all have, on a fast host nothing is left)
        if args.kill:  # while replies and notices still queue behind Telegram's limits
            await fake.wait_for(
                lambda: any(c.chat_id in asked for c in fake.calls[first_call:]),
                timeout=60,
                what="the first answers going out",
            )
            bot.kill()
            await bot.process.wait()
            with sqlite3.connect(folder / "station.db") as db:
                [(killed_with_unsent,)] = db.execute(
                    "SELECT COUNT(*) FROM outbox WHERE status = 'pending'"
                )
            await bot.start()
        await fake.wait_for(lambda: len(answered()) == ASKING, timeout=60, what="FAQ answers")
        faq_waits = [answered()[user_id] - asked[user_id] for user_id in asked]

        def staff_refs() -> set[str]:
            return {
                ref
                for c in fake.calls[first_call:]
                if c.method == "sendMessage" and c.ok and c.chat_id == STAFF_GROUP
                for ref in REF.findall(c.text)
            }

        await fake.wait_for(
            lambda: len(staff_refs()) >= WAVE, timeout=300, what="every reference to staff"
        )
        staff_told = (
            max(
                c.at
                for c in fake.calls[first_call:]
                if c.method == "sendMessage" and c.ok and c.chat_id == STAFF_GROUP
            )
            - start
        )

        def resident_replies() -> list:
            return [
                c
                for c in fake.calls[first_call:]
                if c.method == "sendMessage" and c.ok and 0 < c.chat_id <= WAVE
            ]

        await fake.wait_for(
            lambda: {c.chat_id for c in resident_replies()} == set(range(1, WAVE + 1)),
            timeout=120,
            what="every resident of the wave told",
        )
        await fake.settle(quiet=1.0)
        staff_messages = [
            c for c in fake.calls[first_call:]
            if c.method == "sendMessage" and c.ok and c.chat_id == STAFF_GROUP
        ]  # fmt: skip
        replies = resident_replies()
        rss = peak_rss_mb(bot.process.pid)
    finally:
        code = await bot.stop()
        await fake.stop()
    if code != 0:
        print(bot.log[-3000:], file=sys.stderr)
        raise SystemExit(f"the bot exited with {code}")
    with sqlite3.connect(folder / "station.db") as db:
        [(rows,)] = db.execute("SELECT COUNT(*) FROM questions")
    per_resident = [sum(1 for c in replies if c.chat_id == u) for u in range(1, WAVE + 1)]
    return {
        "faq_slowest_s": max(faq_waits),
        "faq_median_s": statistics.median(faq_waits),
        "staff_told_s": staff_told,
        "staff_messages": len(staff_messages),
        "rows": rows,
        "lost": sum(1 for n in per_resident if n == 0),
        "duplicated": sum(n - 1 for n in per_resident if n > 1),
        "killed_with_unsent": killed_with_unsent,
        "throttled": sum(1 for c in fake.calls[first_call:] if not c.ok),
        "peak_rss_mb": rss,
        "errors": bot.log.count(" ERROR "),
    }


def report_production(args: argparse.Namespace, figures: dict[str, float]) -> list[str]:
    print(
        f"production profile: {WAVE} unanswered questions, then {ASKING} residents ask "
        "食堂几点开门; staff group at 20/min, 30/s in all"
        + (", kill -9 mid-way" if args.kill else "")
    )
    print(f"FAQ answers during the wave  slowest {figures['faq_slowest_s']:.2f} s, "
          f"median {figures['faq_median_s']:.2f} s")  # fmt: skip
    print(f"all {WAVE} references with staff   {figures['staff_told_s']:.1f} s "
          f"in {figures['staff_messages']} messages (digests)")  # fmt: skip
    print(f"429s from Telegram           {figures['throttled']}")
    if args.kill:
        print(f"killed with unsent messages  {figures['killed_with_unsent']}")
    print(f"questions in SQLite          {figures['rows']} of {WAVE}")
    print(f"residents never told         {figures['lost']}")
    print(f"replies sent twice           {figures['duplicated']}")
    print(
        f"peak RSS of the bot          {figures['peak_rss_mb']:.1f} MB"
        f"   errors: {figures['errors']}"
    )
    missed = []
    # (with --kill the slowest answers wait for the bot to start again: what a crash costs)
    if not args.kill and figures["faq_slowest_s"] > TARGET_FAQ_DURING_WAVE_S:
        missed.append("FAQ answers during the wave")
    if figures["staff_told_s"] > TARGET_STAFF_TOLD_S:
        missed.append("references to staff")
    if figures["rows"] != WAVE or figures["lost"]:
        missed.append("lost questions or replies")
    return missed


async def run_wechat(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """The WeChat profile: `stationbot run` with WeChat alone, signed POSTs as WeChat sends."""
    async with FakeWeChat() as fake:
        port = free_port()
        config = folder / "config.yaml"
        settings = {
            "storage": {"path": str(folder / "station.db")},
            "limits": {"flood_messages": 10_000, "flood_seconds": 1},
            "web": {"listen": "127.0.0.1", "port": port},
            "wechat": {
                "token": TOKEN,
                "app_id": APP_ID,
                "app_secret": APP_SECRET,
                "encoding_aes_key": ENCODING_AES_KEY if args.safe_mode else None,
                "api_base_url": fake.base_url,
            },
        }
        config.write_text(yaml.safe_dump(settings), encoding="utf-8")
        log_path = folder / "bot.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONBOT_")}
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "handlers.cli", "run", "--config", str(config),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=ROOT,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}/wechat"
        build = safe_mode_post if args.safe_mode else plaintext_post
        msg_ids = iter(range(1, 10**9))
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def post(user_id: int, text: str) -> str | None:
                """One message; the passive reply's text, None when the answer had none."""
                xml = text_xml(text, msg_id=next(msg_ids), openid=f"o{user_id:08d}")
                request = build(xml, timestamp=str(int(time.time())))
                async with session.post(url, params=request.query, data=request.body) as answer:
                    body = await answer.read()
                if answer.status != 200:
                    raise SystemExit(f"the bot answered HTTP {answer.status}")
                if body == b"success" or not body:
                    return None
                fields = open_safe_mode_reply(body) if args.safe_mode else read_fields(body)
                return fields["Content"]

            for _ in range(600):  # until the web server listens
                try:
                    async with session.get(url, params=url_check_query("up")) as answer:
                        if await answer.text() == "up":
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise SystemExit(log_path.read_text())
            await post(10**7, "食堂几点开门")  # warm up (the matcher's first call)
            plan = messages(args.residents, args.messages, args.mix, args.seed)
            turns = {user_id: asyncio.Lock() for user_id, _ in plan}
            latencies: list[float] = []
            passive: dict[str, list[str]] = {}  # openid -> passive replies
            bot_cpu_before = cpu_seconds(process.pid)
            driver_cpu_before = time.process_time()
            start = time.monotonic()

            async def resident_message(index: int, user_id: int, text: str) -> None:
                if args.rate:
                    await asyncio.sleep(max(0.0, start + index / args.rate - time.monotonic()))
                async with turns[user_id]:  # WeChat delivers one resident's messages in order
                    asked = time.monotonic()
                    reply = await post(user_id, text)
                    latencies.append((time.monotonic() - asked) * 1000)
                    if reply is not None:
                        passive.setdefault(f"o{user_id:08d}", []).append(reply)

            await asyncio.gather(
                *(resident_message(i, user_id, text) for i, (user_id, text) in enumerate(plan))
            )
            span = time.monotonic() - start
            # replies too slow for the HTTP answer go by the API after the hold: wait for them
            await asyncio.sleep(8.0)
            bot_cpu = cpu_seconds(process.pid) - bot_cpu_before
            driver_cpu = time.process_time() - driver_cpu_before
            rss = peak_rss_mb(process.pid)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
        sent = list(fake.sent)
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        print(log_text[-3000:], file=sys.stderr)
        raise SystemExit(f"the bot exited with {code}")
    # duplicated: a reply given in the request and sent by the API too
    duplicated = sum(1 for s in sent if s.text in passive.get(s.openid, ()))
    answered = sum(len(replies) for replies in passive.values())
    with sqlite3.connect(folder / "station.db") as db:
        rows = db.execute(
            "SELECT COUNT(*) FROM questions WHERE channel = 'wechat' AND address != ?",
            (f"o{10**7:08d}",),
        ).fetchone()
        stored = db.execute("SELECT COUNT(*) FROM inbox WHERE channel = 'wechat'").fetchone()[0]
        # lost: a message never stored, or stored with no reply given in the request or sent
        unanswered = db.execute(
            "SELECT COUNT(*) FROM inbox i WHERE channel = 'wechat' AND NOT EXISTS (SELECT 1"
            " FROM outbox o WHERE o.inbox_id = i.id AND o.status IN ('passive', 'sent'))"
        ).fetchone()[0]
        by_api = db.execute(
            "SELECT COUNT(*) FROM outbox WHERE inbox_id IS NOT NULL AND status = 'sent'"
        ).fetchone()[0]
    lost = unanswered + max(0, len(plan) + 1 - stored)  # + 1: the warm-up message
    replies = answered + by_api
    return {
        "messages": len(plan),
        "replies": replies,
        "passive": answered,
        "seconds": span,
        "replies_per_second": answered / span,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "peak_rss_mb": rss,
        "bot_cpu_seconds": bot_cpu,
        "driver_cpu_seconds": driver_cpu,
        "lost": lost,
        "duplicated": duplicated,
        "rows": rows[0],
        "errors": log_text.count(" ERROR "),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    # the fake server's access log would report the bot's long poll cut short at the end
    logging.getLogger("tornado.access").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10, help="messages per resident")
    parser.add_argument(
        "--rate", type=float, default=0, help="messages a second (default 0: all at once)"
    )
    parser.add_argument("--mix", choices=["faq", "unanswered", "dictated"], default="faq")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--channel", choices=["telegram", "wechat"], default="telegram")
    parser.add_argument(
        "--safe-mode", action="store_true", help="WeChat: AES-encrypted messages and replies"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--profile", choices=["bench", "production"], default="bench")
    parser.add_argument("--kill", action="store_true", help="production: kill -9 mid-way")
    args = parser.parse_args()
    if args.profile == "production":
        with tempfile.TemporaryDirectory(prefix="stationbot-load-") as folder:
            missed = report_production(args, asyncio.run(run_production(args, Path(folder))))
        if missed:
            print("missed: " + ", ".join(missed))
        return 1 if args.check and missed else 0
    with tempfile.TemporaryDirectory(prefix="stationbot-load-") as folder:
        profile = run_wechat if args.channel == "wechat" else run
        figures = asyncio.run(profile(args, Path(folder)))
    mode = f"paced at {args.rate:g}/s" if args.rate else "burst"
    if args.channel == "wechat":
        mode += ", WeChat " + ("safe mode" if args.safe_mode else "plaintext")
    print(f"{figures['messages']} messages from {args.residents} residents ({args.mix}, {mode})")
    if "passive" in figures:
        print(f"answered in the request {figures['passive']:5d}   (the rest by the API)")
    print(f"replies per second  {figures['replies_per_second']:8.1f}")
    print(f"latency p50         {figures['p50_ms']:8.1f} ms")
    print(f"latency p99         {figures['p99_ms']:8.1f} ms   (max {figures['max_ms']:.0f} ms)")
    print(f"peak RSS of the bot {figures['peak_rss_mb']:8.1f} MB")
    print(
        f"CPU seconds         {figures['bot_cpu_seconds']:8.1f} bot, "
        f"{figures['driver_cpu_seconds']:.1f} fake {args.channel} and residents, "
        f"in {figures['seconds']:.1f} s"
    )
    print(f"lost replies        {figures['lost']:8d}")
    print(f"duplicated replies  {figures['duplicated']:8d}")
    print(f"questions in SQLite {figures['rows']:8d}   errors logged: {figures['errors']}")
    missed = []
    if not args.rate and figures["replies_per_second"] < TARGET_REPLIES_PER_SECOND:
        missed.append("replies per second")
    if args.rate and figures["p99_ms"] > TARGET_P99_MS:
        missed.append("p99 latency")
    if figures["peak_rss_mb"] > TARGET_RSS_MB:
        missed.append("peak RSS")
    if figures["lost"] or figures["duplicated"] or figures["errors"]:
        missed.append("lost, duplicated or errors")
    if args.mix == "unanswered" and figures["rows"] != figures["messages"]:
        missed.append("rows in SQLite")
    if missed:
        print("missed: " + ", ".join(missed))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
