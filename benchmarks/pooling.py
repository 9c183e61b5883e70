"""Pooling benchmark: /wishes and /stats pool 100,000 stored questions within 2 s and 200 MB.

Residents' questions are generated from templates (Chinese and English, with greetings,
particles, homophone slips, Traditional characters, building numbers and a long tail of
one-off questions), so there are many near-duplicates and many distinct texts. Prints the
distinct texts, the pools, the time and the peak memory of `bot.pooling.pool_items` (pooling
keys are stored with each item since m007), and the leader comparisons it made; --storage also
saves them to SQLite and times what `StaffDesk.wishes()` does end to end, reading included.

    .venv/bin/python benchmarks/pooling.py                   # 100,000 items, in memory
    .venv/bin/python benchmarks/pooling.py --storage         # and through SQLite
    .venv/bin/python benchmarks/pooling.py --items 8000 --check
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import pooling  # noqa: E402
from bot.storage import Item, PoolingRow, Storage  # noqa: E402

TARGET_SECONDS = 2.0
TARGET_MB = 200

ZH_TEMPLATES = [
    "食堂几点开门",
    "社区食堂今天吃什么",
    "{n}号楼电梯坏了",
    "{n}号楼的楼道灯不亮了",
    "老年证怎么办理",
    "高龄津贴什么时候发",
    "我想报名{course}班",
    "有没有{course}课",
    "驿站星期天开门吗",
    "怎么申请困难补助",
    "可以在驿站量血压吗",
    "助餐点可以送饭上门吗",
    "医保卡丢了怎么补办",
    "哪里可以交水电费",
    "想给基金会捐款怎么捐",
    "{n}号楼门口垃圾没人收",
    "志愿者怎么报名",
    "家里老人摔倒了能上门看看吗",
    "小区停水了找谁",
    "{n}号楼楼下停车太乱了",
    "驿站有没有理发服务",
    "免费体检什么时候开始",
    "办居住证要带什么材料",
    "我家{n}楼漏水了找谁修",
    "老人助浴服务怎么预约",
]
EN_TEMPLATES = [
    "what time does the canteen open",
    "is the station open on sunday",
    "the lift in building {n} is broken",
    "how do i apply for the senior card",
    "can i sign up for the {course_en} class",
    "how can i donate to the foundation",
    "where can i pay my water bill",
    "can someone check my blood pressure",
    "do you deliver meals to elderly people",
    "who do i call about a water leak in building {n}",
]
COURSES = ["烹饪", "书法", "太极", "合唱", "手机使用", "英语", "绘画", "象棋", "广场舞", "摄影"]
COURSES_EN = ["cooking", "calligraphy", "tai chi", "choir", "smartphone", "english", "painting"]
ZH_OPENERS = ["", "", "", "请问", "你好，", "您好，", "麻烦问一下，", "喂，", "阿姨想问下，"]
ZH_ENDINGS = ["", "", "？", "吗", "呀？", "啊", "，谢谢", "！！", "？？", "伐"]
EN_OPENERS = ["", "", "hi, ", "hello ", "excuse me, ", "Hi! "]
EN_ENDINGS = ["", "?", " please", "? thanks", "??", "!"]
# homophone slips and Traditional characters residents type
SLIPS = {"食": "实", "堂": "唐", "楼": "搂", "报": "抱", "梯": "题", "证": "正", "办": "半"}
TRADITIONAL = {"门": "門", "电": "電", "楼": "樓", "发": "發", "报": "報", "费": "費", "证": "證"}
# the long tail: one-off questions that pool with nothing or with a few
PLACES = ["小区", "菜场", "地铁站", "公园", "医院", "学校", "银行", "邮局", "超市", "派出所"]
THINGS = [
    "停车位",
    "厕所",
    "快递柜",
    "充电桩",
    "长椅",
    "自行车",
    "路灯",
    "药店",
    "ATM",
    "无障碍通道",
]
TAIL_VERBS = ["附近有没有", "旁边哪里有", "到", "离驿站多远", "怎么去"]


def resident_text(rng: random.Random) -> str:
    """One question as a resident might type it."""
    roll = rng.random()
    if roll < 0.15:  # long tail, many distinct
        text = (
            rng.choice(PLACES)
            + rng.choice(TAIL_VERBS)
            + rng.choice(THINGS)
            + rng.choice(["", str(rng.randrange(1, 200))])
        )
        return text + rng.choice(ZH_ENDINGS)
    if roll < 0.35:
        text = rng.choice(EN_TEMPLATES).format(
            n=rng.randrange(1, 61), course_en=rng.choice(COURSES_EN)
        )
        if rng.random() < 0.3:
            text = text.capitalize()
        return rng.choice(EN_OPENERS) + text + rng.choice(EN_ENDINGS)
    text = rng.choice(ZH_TEMPLATES).format(n=rng.randrange(1, 61), course=rng.choice(COURSES))
    for table, chance in ((SLIPS, 0.08), (TRADITIONAL, 0.05)):
        if rng.random() < chance:
            text = "".join(table.get(char, char) for char in text)
    return rng.choice(ZH_OPENERS) + text + rng.choice(ZH_ENDINGS)


def items(count: int, seed: int = 1) -> list[Item]:
    """`count` open questions from 5,000 residents, one a minute."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for n in range(1, count + 1):
        user_id = rng.randrange(1, 5001)
        at = (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(Item(f"Q{n:04d}", "question", resident_text(rng), "open", user_id, user_id, at))
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_comparisons() -> list[int]:
    """Counts the key-to-leader comparisons pool_items makes (in the returned list's [0])."""
    counted = [0]
    similarities = pooling._similarities

    def counting(key: str, leaders: list[str], threshold: float) -> object:
        counted[0] += len(leaders)
        return similarities(key, leaders, threshold)

    pooling._similarities = counting
    return counted


def stored(questions: list[Item]) -> list[PoolingRow]:
    """The questions as StaffDesk reads them to pool: slim rows with their stored key."""
    return [
        PoolingRow(item.created_at, item.kind, item.id, item.ref, item.text, item.status,
                   item.user_id, pooling.pooling_key(item.text))
        for item in questions
    ]  # fmt: skip


def measure_in_memory(questions: list[Item]) -> dict[str, float]:
    """pool_items on rows with stored keys (what every call does now), timed and under
    tracemalloc; then on bare items, keys made on the fly (what the m007 upgrade costs once)."""
    figures: dict[str, float] = {}
    rows = stored(questions)
    comparisons = count_comparisons()
    wall, cpu = time.perf_counter(), time.process_time()
    pools = pooling.pool_items(rows)
    figures["stored"] = time.perf_counter() - wall
    figures["stored_cpu"] = time.process_time() - cpu
    figures["comparisons"] = comparisons[0]
    figures["pools"] = len(pools)
    wall, cpu = time.perf_counter(), time.process_time()
    pooling.pool_items(questions)
    figures["keying"] = time.perf_counter() - wall
    figures["keying_cpu"] = time.process_time() - cpu
    tracemalloc.start()
    pooling.pool_items(rows)
    figures["peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"largest pools: {'; '.join(pool.describe(30) for pool in pools[:3])}")
    return figures


async def measure_storage(questions: list[Item]) -> tuple[float, float, int]:
    """Saves the questions as wishes in a fresh SQLite file; times what StaffDesk.wishes()
    does (read the rows to pool, pool them off the event loop) in a storage just opened, as
    after a restart, then once more."""

    async def wishes(storage: Storage) -> list[pooling.Pool]:
        return await asyncio.to_thread(pooling.pool_items, await storage.pooling_rows("wish"))

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pool.db"
        async with Storage.open(path) as storage:
            for start in range(0, len(questions), 2000):
                await asyncio.gather(
                    *(
                        storage.save_wish(item.user_id, item.chat_id, item.text)
                        for item in questions[start : start + 2000]
                    )
                )
        async with Storage.open(path) as storage:
            started = time.perf_counter()
            pools = await wishes(storage)
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            await wishes(storage)
            again = time.perf_counter() - started
    return seconds, again, len(pools)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--storage", action="store_true", help="also through SQLite")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    questions = items(args.items, args.seed)
    distinct = len({item.text for item in questions})
    figures = measure_in_memory(questions)
    comparisons = figures["comparisons"]
    print(f"items {len(questions):,}, distinct texts {distinct:,}, pools {figures['pools']:,.0f}")
    print(
        f"pool_items, keys stored: {figures['stored']:.2f} s wall,"
        f" {figures['stored_cpu']:.2f} s CPU (target <= {TARGET_SECONDS:g} s);"
        f" keys made on the fly (the m007 upgrade, once): {figures['keying']:.2f} s wall,"
        f" {figures['keying_cpu']:.2f} s CPU"
    )
    print(
        f"pool_items peak memory (tracemalloc): {figures['peak_mb']:.1f} MB"
        f" (target <= {TARGET_MB} MB); leader comparisons {comparisons:,.0f}"
        f" ({comparisons / len(questions):.1f} per item)"
    )
    print(f"process peak RSS {peak_rss_mb():.1f} MB (Python, libraries, the items themselves)")
    missed = figures["stored"] > TARGET_SECONDS or figures["peak_mb"] > TARGET_MB
    if args.storage:
        cold, again, count = asyncio.run(measure_storage(questions))
        print(
            f"StaffDesk.wishes() through SQLite, reading included: {cold:.2f} s just after"
            f" opening, {again:.2f} s again ({count:,} pools; target <= {TARGET_SECONDS:g} s);"
            f" peak RSS {peak_rss_mb():.1f} MB"
        )
        missed = missed or cold > TARGET_SECONDS
    if args.check and missed:
        print("target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
