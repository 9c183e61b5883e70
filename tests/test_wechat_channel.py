"""The WeChat channel end to end: signed POSTs to the real web routes on 127.0.0.1, the real
core and SQLite, and the fake WeChat API server for everything sent by the courier."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from fake_telegram import FakeTelegram, test_config
from fake_wechat import (
    APP_ID,
    APP_SECRET,
    ENCODING_AES_KEY,
    OPENID,
    TOKEN,
    FakeWeChat,
    SignedRequest,
    event_xml,
    location_xml,
    media_xml,
    open_safe_mode_reply,
    plaintext_post,
    safe_mode_post,
    text_xml,
    url_check_query,
    voice_xml,
)

import handlers.wechat as wechat_module
from bot.config import WebConfig, load_config
from bot.core import Station
from bot.messages import t
from bot.outbox import Button, Outgoing
from bot.staff import Actor, StaffDesk
from handlers.runtime import Runtime
from handlers.telegram import running
from handlers.wechat import WeChatChannel, attach, menu, register, render
from handlers.wechat_protocol import read_fields


@dataclasses.dataclass
class WeChatBot:
    """The running channel and how to talk to it as WeChat's servers do."""

    fake: FakeWeChat
    station: Station
    runtime: Runtime
    url: str
    db: Path
    safe: bool
    session: aiohttp.ClientSession
    msg_ids: Any = dataclasses.field(default_factory=lambda: iter(range(1000, 10**6)))

    def signed(self, xml: bytes) -> SignedRequest:
        now = str(int(time.time()))
        if self.safe:
            return safe_mode_post(xml, timestamp=now)
        return plaintext_post(xml, timestamp=now)

    async def post(self, request: SignedRequest) -> tuple[int, str]:
        async with self.session.post(self.url, params=request.query, data=request.body) as answer:
            return answer.status, await answer.text()

    async def reply_to(self, xml: bytes) -> str:
        """The passive reply's text ("" when the answer was "success")."""
        status, body = await self.post(self.signed(xml))
        assert status == 200, body
        if body == "success":
            return ""
        fields = open_safe_mode_reply(body.encode()) if self.safe else read_fields(body.encode())
        assert fields["ToUserName"] == OPENID and fields["MsgType"] == "text"
        return fields["Content"]

    async def say(self, text: str, openid: str = OPENID) -> str:
        return await self.reply_to(text_xml(text, msg_id=next(self.msg_ids), openid=openid))

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            return db.execute(sql, params).fetchall()


def write_config(tmp_path: Path, fake: FakeWeChat, safe: bool, **sections: Any) -> Path:
    settings: dict[str, Any] = {
        "storage": {"path": str(tmp_path / "station.db")},
        "wechat": {
            "token": TOKEN,
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
            "encoding_aes_key": ENCODING_AES_KEY if safe else None,
            "api_base_url": fake.base_url,
        },
        "staff": {"user_ids": [42]},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            settings.setdefault(section, {}).update(values)
        else:  # a list (stations:)
            settings[section] = values
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def running_wechat(
    tmp_path: Path, *, safe: bool = False, **sections: Any
) -> AsyncIterator[WeChatBot]:
    """The WeChat channel alone (no Telegram token) on a runtime serving 127.0.0.1."""
    async with FakeWeChat() as fake:
        path = write_config(tmp_path, fake, safe, **sections)
        config = load_config(path, require_token=True)  # WeChat alone needs no Telegram token
        station = await Station.create(config)
        runtime = Runtime(config, station)
        channel = WeChatChannel(config, station, runtime)
        register(runtime.web, channel)
        runtime.listen("127.0.0.1", 0)
        await runtime.start([channel])
        try:
            port = runtime.addresses[0][1]
            async with aiohttp.ClientSession() as session:
                yield WeChatBot(
                    fake,
                    station,
                    runtime,
                    f"http://127.0.0.1:{port}{config.wechat.path}",
                    config.storage_path,
                    safe,
                    session,
                )
        finally:
            await runtime.stop()
            await station.close()


@pytest.fixture(params=["plaintext", "safe mode"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WeChatBot]:
    async with running_wechat(tmp_path, safe=request.param == "safe mode") as running:
        yield running


@pytest.fixture
async def plain_bot(tmp_path: Path) -> AsyncIterator[WeChatBot]:
    async with running_wechat(tmp_path) as running:
        yield running


def answer_of(station: Station, entry_id: str, language: str = "zh") -> str:
    return station.kb.get(entry_id).answer[language]


# --- the URL check and signatures ---


async def test_url_check_echoes_echostr_only_when_signed(plain_bot: WeChatBot) -> None:
    session, url = plain_bot.session, plain_bot.url
    async with session.get(url, params=url_check_query("hello-123")) as answer:
        assert (answer.status, await answer.text()) == (200, "hello-123")
    async with session.get(url, params=url_check_query("hello", token="wrong")) as answer:
        assert answer.status == 403
    async with session.get(url, params={"echostr": "x"}) as answer:
        assert answer.status == 403


async def test_bad_signature_is_refused_and_nothing_saved(bot: WeChatBot) -> None:
    request = bot.signed(text_xml("食堂几点开门"))
    key = "msg_signature" if bot.safe else "signature"
    forged = SignedRequest(request.query | {key: "0" * 40}, request.body)
    assert (await bot.post(forged))[0] == 403
    stale = (
        safe_mode_post(text_xml("x"), timestamp="1700000000")
        if bot.safe
        else plaintext_post(text_xml("x"), timestamp="1700000000")
    )
    assert (await bot.post(stale))[0] == 403, "a replayed old request is refused"
    assert bot.rows("SELECT COUNT(*) FROM inbox") == [(0,)]
    assert bot.rows("SELECT COUNT(*) FROM residents") == [(0,)]


async def test_plaintext_post_refused_in_safe_mode(tmp_path: Path) -> None:
    async with running_wechat(tmp_path, safe=True) as running:
        now = str(int(time.time()))
        status, _ = await running.post(plaintext_post(text_xml("食堂几点开门"), timestamp=now))
        assert status == 403
        assert running.rows("SELECT COUNT(*) FROM inbox") == [(0,)]


# --- each kind of message, answered in the request ---


async def test_text_is_answered_in_the_request(bot: WeChatBot) -> None:
    reply = await bot.say("食堂几点开门")
    assert answer_of(bot.station, "canteen.hours") in reply
    assert "1. 👍" in reply and "2. 👎" in reply, "feedback buttons as numbered choices"
    assert bot.rows("SELECT status FROM outbox WHERE channel = 'wechat'") == [("passive",)]
    await asyncio.sleep(0.2)
    assert bot.fake.sent == [], "a passive reply is not sent again by the API"


async def test_retry_of_the_same_message_gets_the_same_reply_and_saves_once(
    bot: WeChatBot,
) -> None:
    xml = text_xml("我家的猫今天不吃饭怎么办呢", msg_id=77)
    first, second = await asyncio.gather(bot.reply_to(xml), bot.reply_to(xml))
    third = await bot.reply_to(xml)
    assert first == second == third
    assert "Q0001" in first
    assert bot.rows("SELECT COUNT(*) FROM inbox") == [(1,)]
    assert bot.rows("SELECT COUNT(*) FROM questions") == [(1,)]
    assert bot.rows("SELECT COUNT(*) FROM outbox WHERE channel = 'wechat'") == [(1,)]


async def test_voice_with_recognition_is_a_question_and_without_asks_to_type(
    bot: WeChatBot,
) -> None:
    reply = await bot.reply_to(voice_xml("食堂几点开门", msg_id=5))
    assert answer_of(bot.station, "canteen.hours") in reply
    reply = await bot.reply_to(voice_xml(None, msg_id=6))
    assert reply.startswith("这条语音我没听清")
    assert "021-" in reply, "the phone number to call"


async def test_location_gets_the_nearest_branch(bot: WeChatBot) -> None:
    reply = await bot.reply_to(location_xml(31.2645, 121.4935, msg_id=8))
    assert bot.station.kb.station["branches"][0]["name"]["zh"] in reply


@pytest.mark.parametrize("kind", ["image", "video", "shortvideo", "link"])
async def test_media_gets_a_friendly_note(plain_bot: WeChatBot, kind: str) -> None:
    reply = await plain_bot.reply_to(media_xml(kind, msg_id=9))
    assert reply == t("only_text.wechat", "zh")


async def test_subscribe_greets_with_numbered_topics_and_a_number_opens_one(
    bot: WeChatBot,
) -> None:
    now = int(time.time())
    reply = await bot.reply_to(event_xml("subscribe", create_time=now))
    assert reply.startswith(t("start.wechat", "zh"))
    assert f"1. {t('topic.canteen', 'zh')}" in reply
    assert f"6. {t('topic.wish', 'zh')}" in reply
    topic = await bot.say("１")  # a Chinese input method's full-width digit
    assert topic.startswith(t("choose", "zh"))
    hours = await bot.reply_to(event_xml("CLICK", "topic.hours", create_time=now + 1))
    assert answer_of(bot.station, "station.hours") in hours


async def test_unhandled_events_are_not_stored(plain_bot: WeChatBot) -> None:
    for event in ("unsubscribe", "LOCATION", "VIEW"):
        assert await plain_bot.reply_to(event_xml(event, create_time=int(time.time()))) == ""
    assert plain_bot.rows("SELECT COUNT(*) FROM inbox") == [(0,)]


async def test_number_reply_picks_a_suggestion(tmp_path: Path) -> None:
    strict = {"answer_threshold": 100, "suggest_threshold": 10}
    async with running_wechat(tmp_path, matching=strict) as bot:
        reply = await bot.say("食堂几点开门")
        assert reply.startswith(t("did_you_mean", "zh"))
        assert "请回复数字" in reply
        picked = await bot.say("1")
        assert answer_of(bot.station, "canteen.hours") in picked
        nothing = await bot.say("9")  # no ninth choice: read as a (too short) question
        assert nothing == t("empty_question", "zh")


async def test_keywords_stand_for_commands(plain_bot: WeChatBot) -> None:
    bot = plain_bot
    assert await bot.say("我的问题") == t("mine.empty", "zh")
    saved = await bot.say("许愿 想学做菜")
    assert "W0001" in saved
    assert "W0001" in await bot.say("我的问题")
    assert (await bot.say("English")).startswith(t("language.set", "en"))
    assert (await bot.say("help")).startswith(t("help.wechat", "en"))
    confirm = await bot.say("删除我的记录")
    assert confirm.startswith(t("forget.confirm", "en"))
    assert "1. " + t("forget.yes", "en") in confirm
    done = await bot.say("1")
    assert done.startswith(t("forget.done", "en", count=0)[:20])
    assert bot.rows("SELECT COUNT(*) FROM wishes") == [(0,)]


async def test_long_reply_goes_in_parts_the_rest_by_the_api(
    plain_bot: WeChatBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wechat_module, "MAX_TEXT", 40)
    reply = await plain_bot.say("食堂几点开门")
    assert len(reply) <= 40
    sent = await plain_bot.fake.wait_for_sent(1)
    whole = answer_of(plain_bot.station, "canteen.hours")
    assert whole.replace("\n", "").startswith((reply + sent[0].text).replace("\n", "")[:60])


async def test_slow_answer_goes_by_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wechat_module, "PASSIVE_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(wechat_module, "REPLY_HOLD_SECONDS", 0.5)
    async with running_wechat(tmp_path) as bot:
        assert await bot.say("食堂几点开门") == ""  # "success": nothing in the request
        sent = await bot.fake.wait_for_sent(1)
        assert answer_of(bot.station, "canteen.hours") in sent[0].text
        await bot.runtime.courier.drain()
        assert bot.rows("SELECT status FROM outbox WHERE channel = 'wechat'") == [("sent",)]


# --- staff replies through the customer-service API ---


async def saved_question(bot: WeChatBot) -> str:
    reply = await bot.say("我家的猫今天不吃饭怎么办呢")
    assert "Q0001" in reply
    return "Q0001"


async def test_staff_reply_reaches_the_resident_and_thanks_by_number(bot: WeChatBot) -> None:
    ref = await saved_question(bot)
    desk = StaffDesk(bot.station)
    await desk.reply(ref, "已经报修了，明天来修。", actor=Actor("web", "alice"))
    sent = await bot.fake.wait_for_sent(1)
    assert sent[0].openid == OPENID
    assert "已经报修了，明天来修。" in sent[0].text
    assert "1. " + t("staff.thanks_button", "zh") in sent[0].text
    assert t("staff.reply_hint.wechat", "zh") in sent[0].text, "no 'reply to this message'"
    assert "已经报修了".encode() in sent[0].raw_body, "Chinese sent as is, not \\u escapes"
    thanks = await bot.say("1")
    assert thanks.startswith(t("staff.thanks_ack", "zh"))
    assert (await desk.item(ref)).status == "resolved"


async def test_rejected_token_is_refreshed_and_the_reply_still_arrives(bot: WeChatBot) -> None:
    ref = await saved_question(bot)
    await bot.station.storage.queue(
        "wechat", OPENID, "message", Outgoing("wechat", OPENID, "x").to_json()
    )
    await bot.fake.wait_for_sent(1)
    bot.fake.revoke_tokens()  # every token so far now answers 40001
    await StaffDesk(bot.station).reply(ref, "明天来修。", actor=Actor("web", "alice"))
    sent = await bot.fake.wait_for_sent(2)
    assert "明天来修。" in sent[1].text
    assert bot.fake.token_requests == 2
    assert sent[1].token != sent[0].token


async def test_closed_window_reaches_staff_to_phone(plain_bot: WeChatBot) -> None:
    bot = plain_bot
    ref = await saved_question(bot)
    bot.fake.close_window(OPENID)
    desk = StaffDesk(bot.station)
    await desk.reply(ref, "请来驿站一趟。", actor=Actor("telegram", "42"))
    await desk.reply(ref, "或者打电话给我们。", actor=Actor("web", "alice", language="en"))
    await bot.runtime.courier.drain()
    assert bot.fake.sent == []
    assert bot.rows(
        "SELECT COUNT(*) FROM outbox WHERE channel = 'wechat' AND status = 'failed'"
    ) == [(2,)]
    # the Telegram staff member is told in Telegram; everyone sees it on the item
    told = bot.rows("SELECT payload FROM outbox WHERE channel = 'telegram' AND address = '42'")
    assert any(
        t("staffui.unreachable", "zh", ref=ref, channel="wechat") in json.loads(p)["text"]
        for (p,) in told
    )
    notes = [change.note for change in (await desk.item(ref)).history]
    assert notes.count(t("staffui.unreachable", "en", ref=ref, channel="wechat")) == 1
    assert notes.count(t("staffui.unreachable", "zh", ref=ref, channel="wechat")) == 1


# --- rendering and the menu ---


def test_buttons_render_as_numbered_rows() -> None:
    message = Outgoing(
        "wechat",
        OPENID,
        "您是想问下面哪一个？",
        buttons=[[Button("食堂几点开门", "1:sug:t:0")], [Button("👍", "a"), Button("👎", "b")]],
    )
    texts, choices = render(message)
    assert texts == [
        "您是想问下面哪一个？\n\n请回复数字（1、2、3）：\n1. 食堂几点开门\n2. 👍    3. 👎"
    ]
    assert choices == [{"data": "1:sug:t:0"}, {"data": "a"}, {"data": "b"}]


def test_menu_fits_wechat_limits_and_every_key_is_understood() -> None:
    buttons = menu()
    assert len(buttons) == 3 and all(len(b["sub_button"]) <= 5 for b in buttons)
    for button in buttons:
        assert len(button["name"].encode()) <= 16
        for sub in button["sub_button"]:
            assert len(sub["name"].encode()) <= 60 and len(sub["key"].encode()) <= 128


# --- Telegram and WeChat on one runtime; `stationbot run` and `stationbot wechat menu` ---


async def test_telegram_and_wechat_share_one_dispatcher_and_courier(tmp_path: Path) -> None:
    fake_telegram = FakeTelegram()
    fake_telegram.start()
    async with FakeWeChat() as fake_wechat:
        base = test_config(tmp_path)
        wechat_settings = load_config(write_config(tmp_path, fake_wechat, False)).wechat
        config = dataclasses.replace(
            base,
            base_url=fake_telegram.base_url,
            base_file_url=fake_telegram.base_file_url,
            staff_user_ids=frozenset({42}),
            wechat=wechat_settings,
            web=WebConfig(port=0),
        )
        station = await Station.create(config)
        try:
            async with running(config, station, extra=[attach]) as channel:
                runtime = channel.runtime
                assert set(runtime.courier.transports) == {"telegram", "wechat"}
                port = runtime.addresses[0][1]
                async with aiohttp.ClientSession() as session:
                    bot = WeChatBot(
                        fake_wechat,
                        station,
                        runtime,
                        f"http://127.0.0.1:{port}/wechat",
                        config.storage_path,
                        False,
                        session,
                    )
                    assert "Q0001" in await bot.say("我家的猫今天不吃饭怎么办呢")
                    notice = await fake_telegram.wait_for(
                        lambda: fake_telegram.sent(42), what="the staff notice"
                    )
                    assert "Q0001" in notice[0].text and "wechat" in notice[0].text
                    update = fake_telegram.message("食堂几点开门", user_id=7)
                    answer = await fake_telegram.replies(update)
                    assert answer_of(station, "canteen.hours") in answer[0].text
                    await StaffDesk(station).reply(
                        "Q0001", "多喂点水。", actor=Actor("telegram", "42")
                    )
                    sent = await fake_wechat.wait_for_sent(1)
                    assert "多喂点水。" in sent[0].text
        finally:
            await station.close()
            await fake_telegram.stop()


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_stationbot_run_serves_wechat_without_a_telegram_token(tmp_path: Path) -> None:
    async with FakeWeChat() as fake:
        port = free_port()
        path = write_config(tmp_path, fake, True, web={"port": port})
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONBOT_")}
        # the secrets from the environment, as the README advises
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
        settings["wechat"] |= {"app_secret": None, "encoding_aes_key": None}
        path.write_text(yaml.safe_dump(settings), encoding="utf-8")
        env |= {
            "STATIONBOT_WECHAT_APP_SECRET": APP_SECRET,
            "STATIONBOT_WECHAT_AES_KEY": ENCODING_AES_KEY,
        }
        log_path = tmp_path / "bot.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "handlers.cli",
                "run",
                "--config",
                str(path),
                "--log-level",
                "DEBUG",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=tmp_path,
            )
        try:
            url = f"http://127.0.0.1:{port}/wechat"
            async with aiohttp.ClientSession() as session:
                for _ in range(200):  # until the web server listens
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        async with session.get(url, params=url_check_query("ping")) as answer:
                            assert await answer.text() == "ping"
                            break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError(log_path.read_text())
                request = safe_mode_post(
                    text_xml("我家的猫今天不吃饭怎么办呢"), timestamp=str(int(time.time()))
                )
                async with session.post(url, params=request.query, data=request.body) as answer:
                    reply = open_safe_mode_reply(await answer.read())
                assert "Q0001" in reply["Content"]
                # the staff console on the same web server
                async with session.get(f"http://127.0.0.1:{port}/login") as answer:
                    assert answer.status == 200
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 30) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    log_text = log_path.read_text(encoding="utf-8")
    assert "WeChat at 127.0.0.1" in log_text and "staff console at" in log_text
    for secret in (APP_SECRET, ENCODING_AES_KEY, TOKEN):
        assert secret not in log_text


async def test_stationbot_wechat_menu_publishes_the_topics(tmp_path: Path) -> None:
    async with FakeWeChat() as fake:
        path = write_config(tmp_path, fake, False)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "handlers.cli",
            "wechat",
            "menu",
            "--config",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert fake.menus == [{"button": menu()}]
        assert "published" in out.decode()
        fake.fail_next_token(1, errcode=40164)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "handlers.cli", "wechat", "menu", "--config", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 1
        assert "IP白名单" in err.decode() and APP_SECRET not in err.decode()


async def test_wechat_click_on_the_menu_opens_each_key(plain_bot: WeChatBot) -> None:
    now = int(time.time())
    for offset, button in enumerate(sub for top in menu() for sub in top["sub_button"]):
        if button["key"] == "cmd:forget":
            continue
        reply = await plain_bot.reply_to(
            event_xml("CLICK", button["key"], create_time=now + offset)
        )
        assert reply, button
