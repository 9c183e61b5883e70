"""The WeChat API client against the fake WeChat server: tokens, sending, failures, secrecy."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from fake_wechat import APP_ID, APP_SECRET, OPENID, FakeWeChat

from handlers.wechat_api import (
    NETWORK_RETRY_SECONDS,
    WeChatApi,
    WeChatApiError,
    WeChatRefused,
    WeChatSetupError,
    WeChatTransient,
)

MENU = [
    {"type": "click", "name": "食堂", "key": "topic.canteen"},
    {
        "name": "服务",
        "sub_button": [
            {"type": "click", "name": "开放时间", "key": "topic.hours"},
            {"type": "click", "name": "微心愿", "key": "topic.wish"},
        ],
    },
]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(fake: FakeWeChat, clock: Clock) -> AsyncIterator[WeChatApi]:
    async with WeChatApi(APP_ID, APP_SECRET, base_url=fake.base_url, clock=clock) as client:
        yield client


# --- sending --------------------------------------------------------------------------------


async def test_text_reaches_the_resident(api: WeChatApi, fake: FakeWeChat):
    await api.send_text(OPENID, "您的问题 Q0012 已有回复：周六照常开放。")
    assert [(sent.openid, sent.text) for sent in fake.sent] == [
        (OPENID, "您的问题 Q0012 已有回复：周六照常开放。")
    ]


async def test_fake_can_wait_for_messages_sent_in_the_background(api: WeChatApi, fake: FakeWeChat):
    task = asyncio.create_task(api.send_text(OPENID, "later"))
    sent = await fake.wait_for_sent(1)
    await task
    assert [message.text for message in sent] == ["later"]
    with pytest.raises(TimeoutError):
        await fake.wait_for_sent(2, timeout=0.05)


async def test_chinese_is_sent_as_utf8_not_escaped(api: WeChatApi, fake: FakeWeChat):
    # WeChat shows \\uXXXX escapes literally, so the JSON must carry the characters themselves
    await api.send_text(OPENID, "食堂")
    assert "食堂".encode() in fake.sent[0].raw_body
    assert b"\\u" not in fake.sent[0].raw_body


async def test_menu_is_published(api: WeChatApi, fake: FakeWeChat):
    await api.create_menu(MENU)
    assert fake.menus == [{"button": MENU}]


@pytest.mark.parametrize(
    "menu",
    [
        [],
        [{"type": "click", "name": str(n), "key": str(n)} for n in range(4)],
        [{"name": "多", "sub_button": [{"type": "click", "name": "x", "key": "x"}] * 6}],
    ],
)
async def test_menu_wechat_would_refuse_is_refused_before_calling(
    api: WeChatApi, fake: FakeWeChat, menu: list[dict[str, Any]]
):
    with pytest.raises(ValueError, match=r"at most|1 to 3"):
        await api.create_menu(menu)
    assert fake.calls == []


async def test_calls_before_start_say_so():
    api = WeChatApi(APP_ID, APP_SECRET, base_url="http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="not started"):
        await api.send_text(OPENID, "hi")


# --- the access token -------------------------------------------------------------------------


async def test_token_is_fetched_once_and_reused(api: WeChatApi, fake: FakeWeChat):
    for n in range(5):
        await api.send_text(OPENID, f"message {n}")
    assert fake.token_requests == 1
    assert {sent.token for sent in fake.sent} == {fake.tokens[0]}


async def test_token_is_refreshed_five_minutes_before_it_expires(
    api: WeChatApi, fake: FakeWeChat, clock: Clock
):
    await api.send_text(OPENID, "first")
    clock.now += 7200 - 300 - 1
    await api.send_text(OPENID, "still the first token")
    assert fake.token_requests == 1
    clock.now += 1
    await api.send_text(OPENID, "a new token")
    assert fake.token_requests == 2
    assert [sent.token for sent in fake.sent] == [fake.tokens[0], fake.tokens[0], fake.tokens[1]]


async def test_short_lived_token_is_refreshed_halfway(
    api: WeChatApi, fake: FakeWeChat, clock: Clock
):
    fake.expires_in = 60
    await api.send_text(OPENID, "first")
    clock.now += 29
    await api.send_text(OPENID, "same token")
    clock.now += 1
    await api.send_text(OPENID, "new token")
    assert fake.token_requests == 2


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_rejected_token_is_replaced_and_the_call_retried_once(
    api: WeChatApi, fake: FakeWeChat, errcode: int
):
    await api.send_text(OPENID, "warm up")
    fake.fail_next(1, errcode)
    await api.send_text(OPENID, "after a refresh")
    assert fake.token_requests == 2
    assert [sent.text for sent in fake.sent] == ["warm up", "after a refresh"]
    assert fake.sent[-1].token == fake.tokens[1]


async def test_revoked_token_is_replaced(api: WeChatApi, fake: FakeWeChat):
    await api.send_text(OPENID, "one")
    fake.revoke_tokens()
    await api.send_text(OPENID, "two")
    assert fake.token_requests == 2
    assert len(fake.sent) == 2


async def test_token_rejected_twice_is_refused_without_a_third_try(
    api: WeChatApi, fake: FakeWeChat
):
    fake.fail_next(2, 40001)
    with pytest.raises(WeChatRefused) as refused:
        await api.send_text(OPENID, "hi")
    assert refused.value.errcode == 40001
    assert not refused.value.window_closed
    assert fake.calls.count("/cgi-bin/message/custom/send") == 2
    assert fake.sent == []


async def test_concurrent_sends_share_one_token_fetch(api: WeChatApi, fake: FakeWeChat):
    await asyncio.gather(*(api.send_text(OPENID, f"m{n}") for n in range(50)))
    assert fake.token_requests == 1
    assert len(fake.sent) == 50


async def test_concurrent_sends_refused_for_one_stale_token_share_one_refresh(
    api: WeChatApi, fake: FakeWeChat
):
    await api.send_text(OPENID, "warm up")
    fake.revoke_tokens()
    await asyncio.gather(*(api.send_text(OPENID, f"m{n}") for n in range(30)))
    assert fake.token_requests == 2
    assert len(fake.sent) == 31


async def test_wrong_app_secret_is_a_setup_error_the_message_waits_out(
    fake: FakeWeChat, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    async with WeChatApi(APP_ID, "wrong-secret-xyz", base_url=fake.base_url) as api:
        with pytest.raises(WeChatSetupError) as setup:
            await api.send_text(OPENID, "hi")
    assert isinstance(setup.value, WeChatTransient)  # the message is not at fault: it waits
    assert setup.value.errcode == 40125
    assert setup.value.retry_after >= 60
    assert "app_secret is wrong" in str(setup.value)
    assert "wrong-secret-xyz" not in full_text(setup.value)
    assert "wrong-secret-xyz" not in caplog.text
    assert fake.sent == []


async def test_server_outside_the_ip_whitelist_is_told_so(
    api: WeChatApi, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
):
    fake.fail_next_token(1, errcode=40164)
    with pytest.raises(WeChatSetupError, match="IP whitelist"):
        await api.send_text(OPENID, "hi")
    assert "IP whitelist" in caplog.text  # the operator sees it in the log


@pytest.mark.parametrize("fault", [{"status": 500}, {"errcode": 40164}, {"errcode": -1}])
async def test_failed_token_fetch_is_not_repeated_by_every_waiting_send(
    api: WeChatApi, fake: FakeWeChat, clock: Clock, fault: dict[str, int]
):
    fake.fail_next_token(1, **fault)
    results = await asyncio.gather(
        *(api.send_text(OPENID, f"m{n}") for n in range(20)), return_exceptions=True
    )
    waits = [result.retry_after for result in results if isinstance(result, WeChatTransient)]
    assert len(waits) == 20
    assert fake.token_requests == 1
    clock.now += max(waits)
    await api.send_text(OPENID, "WeChat is back")
    assert fake.token_requests == 2
    assert [sent.text for sent in fake.sent] == ["WeChat is back"]


# --- failures classified for the sender ---------------------------------------------------------


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_closed_48_hour_window_is_refused_as_window_closed(
    api: WeChatApi, fake: FakeWeChat, errcode: int
):
    fake.close_window(OPENID, errcode)
    with pytest.raises(WeChatRefused) as refused:
        await api.send_text(OPENID, "staff reply")
    assert refused.value.window_closed
    assert refused.value.errcode == errcode
    await api.send_text("oSomeoneElse", "other residents still get theirs")
    fake.open_window(OPENID)
    await api.send_text(OPENID, "after the resident wrote again")
    assert [sent.openid for sent in fake.sent] == ["oSomeoneElse", OPENID]


async def test_other_refusals_are_not_window_closed(api: WeChatApi, fake: FakeWeChat):
    fake.fail_next(1, 40003)  # invalid openid
    with pytest.raises(WeChatRefused) as refused:
        await api.send_text("not-an-openid", "hi")
    assert (refused.value.errcode, refused.value.window_closed) == (40003, False)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_is_transient(api: WeChatApi, fake: FakeWeChat, status: int):
    fake.fail_next_http(1, status)
    with pytest.raises(WeChatTransient) as transient:
        await api.send_text(OPENID, "hi")
    assert transient.value.retry_after == NETWORK_RETRY_SECONDS
    await api.send_text(OPENID, "the retry goes through")
    assert len(fake.sent) == 1


@pytest.mark.parametrize(("errcode", "at_least"), [(-1, 1.0), (45009, 60.0)])
async def test_busy_and_rate_limited_are_transient(
    api: WeChatApi, fake: FakeWeChat, errcode: int, at_least: float
):
    fake.fail_next(1, errcode)
    with pytest.raises(WeChatTransient) as transient:
        await api.send_text(OPENID, "hi")
    assert transient.value.retry_after >= at_least


async def test_dropped_connection_is_transient(api: WeChatApi, fake: FakeWeChat):
    fake.drop_next(1)
    with pytest.raises(WeChatTransient):
        await api.send_text(OPENID, "hi")


async def test_timeout_is_transient(fake: FakeWeChat):
    fake.stall_next(1, seconds=2.0)
    async with WeChatApi(APP_ID, APP_SECRET, base_url=fake.base_url, timeout=0.3) as api:
        with pytest.raises(WeChatTransient, match="timed out"):
            await api.send_text(OPENID, "hi")


async def test_unreachable_server_is_transient():
    async with WeChatApi(APP_ID, APP_SECRET, base_url="http://127.0.0.1:9") as api:
        with pytest.raises(WeChatTransient) as transient:
            await api.send_text(OPENID, "hi")
    assert APP_SECRET not in str(transient.value)


async def test_every_failure_is_a_wechat_api_error(api: WeChatApi, fake: FakeWeChat):
    fake.fail_next_http(1, 500)
    fake.close_window(OPENID)
    for _ in range(2):
        with pytest.raises(WeChatApiError):
            await api.send_text(OPENID, "hi")


# --- secrets stay secret ---------------------------------------------------------------------


def full_text(error: BaseException) -> str:
    """Everything a log line with a traceback would show of this error."""
    return "".join(traceback.format_exception(error)) + repr(error)


async def test_secrets_appear_in_no_log_line_or_error_text(
    fake: FakeWeChat, clock: Clock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    async with WeChatApi(APP_ID, APP_SECRET, base_url=fake.base_url, clock=clock) as api:
        await api.send_text(OPENID, "ok")
        fake.fail_next(1, 40001)
        await api.send_text(OPENID, "after a refresh")
        fake.fail_next(2, 42001)
        fake.fail_next_http(1, 500)
        fake.fail_next(1, -1)
        fake.drop_next(1)
        fake.close_window(OPENID)
        for _ in range(5):
            try:
                await api.send_text(OPENID, "hi")
            except WeChatApiError as error:
                errors.append(error)
        clock.now += 7200
        await api.create_menu(MENU)
        shown = repr(api)
    async with WeChatApi(APP_ID, APP_SECRET, base_url="http://127.0.0.1:9") as unreachable:
        try:
            await unreachable.send_text(OPENID, "hi")
        except WeChatApiError as error:
            errors.append(error)
    assert len(errors) == 6
    assert len(fake.tokens) >= 3
    texts = [caplog.text, shown, *(full_text(error) for error in errors)]
    for secret in (APP_SECRET, *fake.tokens):
        for text in texts:
            assert secret not in text


async def test_an_error_quoting_the_url_is_redacted(
    api: WeChatApi, fake: FakeWeChat, monkeypatch: pytest.MonkeyPatch
):
    await api.send_text(OPENID, "warm up")

    def fail_quoting_url(method: str, url: str, params: dict[str, str], **_: Any) -> Any:
        raise aiohttp.ClientConnectionError(f"cannot reach {url}?{urlencode(params)}")

    assert api._session is not None
    monkeypatch.setattr(api._session, "request", fail_quoting_url)
    with pytest.raises(WeChatTransient) as transient:
        await api.send_text(OPENID, "hi")
    text = full_text(transient.value)
    assert "access_token=***" in text
    assert fake.tokens[0] not in text
    assert "ClientConnectionError" in text  # still says what went wrong
