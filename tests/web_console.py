"""A staff web console on a temporary database and the two-entry FAQ, for the web tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from staff_faq import FAQ

from bot.accounts import Accounts
from bot.config import Config, WebConfig, load_station_faq
from bot.core import Station
from bot.outbox import Outgoing
from bot.staff import StaffDesk
from bot.storage import Storage
from handlers import staff_web

PASSWORD = "correct-horse-battery"
TEST_HASH_COST = 2**10  # scrypt at production cost takes 0.3 s a hash: too slow for 50 tests


@dataclass
class Console:
    app: web.Application
    desk: StaffDesk
    storage: Storage
    config: Config


@dataclass
class Backend:
    """Where console() keeps its data: None for an SQLite file in tmp_path, else a
    PostgreSQL URL (tests/test_web_console.py sets it per test, to run on both)."""

    url: str | None = None


DATABASE = Backend()


@asynccontextmanager
async def console(
    tmp_path: Path, *, base_url: str | None = None, now: Callable[[], datetime] | None = None
) -> AsyncIterator[Console]:
    """A console app with one staff account 'wang' (PASSWORD)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    faq = tmp_path / "faq.yaml"
    faq.write_text(FAQ, encoding="utf-8")
    config = Config(storage_path=tmp_path / "station.db", faq_path=faq, storage_url=DATABASE.url)
    async with (
        Storage.open(config.database, now=now) as storage,
        Storage.open(config.database, now=now) as reader,  # as `stationbot web` does
    ):
        desk = StaffDesk(Station(config, load_station_faq(config), storage))
        await Accounts(storage, hash_cost=TEST_HASH_COST).add("wang", PASSWORD)
        app = web.Application()
        staff_web.register(
            app,
            lambda: desk,
            web_config=WebConfig(base_url=base_url),
            hash_cost=TEST_HASH_COST,
            reader=reader,
        )
        yield Console(app, desk, storage, config)


@asynccontextmanager
async def client_for(app: web.Application) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(app)) as client:
        yield client


async def api_login(client: TestClient, name: str = "wang", password: str = PASSWORD) -> str:
    """Signs in through the API; returns the CSRF token."""
    response = await client.post("/api/login", json={"name": name, "password": password})
    assert response.status == 200, await response.text()
    return (await response.json())["csrf"]


async def seed(storage: Storage) -> None:
    """Two residents' questions and three wishes, as the bot would have saved them."""
    await storage.touch_resident(7, display_name="王阿姨", language="zh")
    await storage.touch_resident(8, display_name="Mr Li", language="en")
    await storage.save_question(7, 7, "小区停水了找谁", [("donation.how", 12.0)])
    await storage.save_question(8, 8, "食堂礼拜天开伐", [("canteen.hours", 22.0)])
    await storage.save_wish(7, 7, "希望开个书法班")
    await storage.save_wish(8, 8, "书法班！")
    await storage.save_wish(9, 9, "想学做菜")


async def queued(storage: Storage) -> list[Outgoing]:
    """The messages waiting in the outbox for the sender, oldest first."""
    return [Outgoing.from_json(row.payload) for row in await storage.due_messages()]
