"""A fake WeChat API server on 127.0.0.1, and builders of the signed requests WeChat sends us.

FakeWeChat serves /cgi-bin/token, /cgi-bin/message/custom/send and /cgi-bin/menu/create
(aiohttp.web, a random free port, `async with`), records what the bot sends, and can be
scripted to fail the next calls (an errcode such as 40001 or -1, or an HTTP 500) or to refuse
one resident with 45015, as the 48-hour window does. The builders (url_check_query,
plaintext_post, safe_mode_post and the *_xml functions) make what WeChat's servers POST to
the bot, signed (and encrypted) for a given token, EncodingAESKey and app id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from handlers.wechat_protocol import (
    SafeMode,
    aes_key,
    cdata,
    check_signature,
    decrypt,
    encrypt,
    read_fields,
    signature,
)

APP_ID = "wx1234567890abcdef"
APP_SECRET = "app-secret-never-logged-0123456789"
TOKEN = "station-token"  # the server-URL token of the account's settings
ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
ACCOUNT = "gh_station000001"  # the account's own id, ToUserName of inbound messages
OPENID = "oResident0000000000000001"

ERRMSGS = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40014: "invalid access_token",
    42001: "access_token expired",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
}


@dataclass
class Fault:
    """What the fake does instead of the call: an errcode, an HTTP status, or a dropped
    connection, after an optional delay."""

    errcode: int = 0
    status: int = 200
    drop: bool = False
    delay: float = 0.0


@dataclass
class Sent:
    """One customer-service message the fake accepted."""

    openid: str
    text: str
    token: str
    raw_body: bytes  # as the client sent it, to check it carries Chinese unescaped


@dataclass
class FakeWeChat:
    """The WeChat API calls the bot makes; `base_url` is where it listens once entered."""

    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    expires_in: int = 7200
    token_requests: int = 0
    tokens: list[str] = field(default_factory=list)  # issued, oldest first
    sent: list[Sent] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # every API path called, faults included
    menus: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)  # for the next custom-send calls
    token_faults: list[Fault] = field(default_factory=list)  # for the next token requests
    closed_windows: dict[str, int] = field(default_factory=dict)  # openid -> errcode
    revoked: set[str] = field(default_factory=set)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- scripting ---------------------------------------------------------------------------

    def fail_next(self, count: int, errcode: int) -> None:
        """The next `count` custom-send calls answer this errcode (40001, -1, 45009 ...)."""
        self.faults.extend(Fault(errcode=errcode) for _ in range(count))

    def fail_next_http(self, count: int, status: int = 500) -> None:
        """The next `count` custom-send calls answer this HTTP status without JSON."""
        self.faults.extend(Fault(status=status) for _ in range(count))

    def fail_next_token(self, count: int, errcode: int = 0, status: int = 200) -> None:
        """The next `count` token requests answer this errcode (40164 ...) or HTTP status."""
        self.token_faults.extend(Fault(errcode=errcode, status=status) for _ in range(count))

    def drop_next(self, count: int) -> None:
        """The next `count` custom-send calls lose their connection without an answer."""
        self.faults.extend(Fault(drop=True) for _ in range(count))

    def stall_next(self, count: int, seconds: float) -> None:
        """The next `count` custom-send calls answer "system error" only after `seconds`."""
        self.faults.extend(Fault(errcode=-1, delay=seconds) for _ in range(count))

    def close_window(self, openid: str, errcode: int = 45015) -> None:
        """Messages to this resident are refused as outside their 48-hour window."""
        self.closed_windows[openid] = errcode

    def open_window(self, openid: str) -> None:
        """The resident wrote again: messages to them are accepted once more."""
        self.closed_windows.pop(openid, None)

    def revoke_tokens(self) -> None:
        """Every token issued so far is invalid from now on (as after a secret reset)."""
        self.revoked.update(self.tokens)

    async def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[Sent]:
        """The messages accepted, once there are `count` (the bot's sender works on its own)."""
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                await asyncio.sleep(0.01)
        return self.sent

    # --- the server ----------------------------------------------------------------------------

    async def __aenter__(self) -> FakeWeChat:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/cgi-bin/menu/create", self._menu_create)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        """Issues numbered tokens to the right app id and secret."""
        self.calls.append(request.path)
        self.token_requests += 1
        if self.token_faults:
            return await self._fault(request, self.token_faults.pop(0))
        query = request.query
        if query.get("grant_type") != "client_credential":
            return _error(40002)
        if query.get("appid") != self.app_id:
            return _error(40013, "invalid appid")
        if query.get("secret") != self.app_secret:
            return _error(40125, "invalid appsecret")
        token = f"TEST-ACCESS-TOKEN-{next(self._numbers)}"
        self.tokens.append(token)
        return web.json_response({"access_token": token, "expires_in": self.expires_in})

    async def _custom_send(self, request: web.Request) -> web.Response:
        """Records a customer-service message, unless a fault or a closed window is due."""
        self.calls.append(request.path)
        if self.faults:
            return await self._fault(request, self.faults.pop(0))
        refusal = self._token_refusal(request)
        if refusal:
            return _error(refusal)
        raw = await request.read()
        payload = json.loads(raw)
        openid = payload["touser"]
        if openid in self.closed_windows:
            return _error(self.closed_windows[openid])
        token = request.query["access_token"]
        self.sent.append(Sent(openid, payload["text"]["content"], token, raw))
        return _error(0, "ok")

    async def _fault(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        """Answers as the scripted fault says."""
        await asyncio.sleep(fault.delay)
        if fault.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()  # never reaches the client: the connection is gone
        if fault.status != 200:
            return web.Response(status=fault.status, text="Internal Server Error")
        return _error(fault.errcode)

    async def _menu_create(self, request: web.Request) -> web.Response:
        """Records the menu."""
        self.calls.append(request.path)
        refusal = self._token_refusal(request)
        if refusal:
            return _error(refusal)
        self.menus.append(json.loads(await request.read()))
        return _error(0, "ok")

    def _token_refusal(self, request: web.Request) -> int:
        """40001 for a token we never issued or revoked, else 0."""
        token = request.query.get("access_token", "")
        return 40001 if token not in self.tokens or token in self.revoked else 0


def _error(errcode: int, errmsg: str | None = None) -> web.Response:
    text = errmsg if errmsg is not None else ERRMSGS.get(errcode, "error")
    return web.json_response({"errcode": errcode, "errmsg": f"{text} rid: 0000-fake"})


# --- building what WeChat POSTs to the bot ---------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """A request as WeChat sends it: the query string's fields and the body."""

    query: dict[str, str]
    body: bytes


def url_check_query(
    echostr: str, token: str = TOKEN, timestamp: str = "1700000000", nonce: str = "123456"
) -> dict[str, str]:
    """The query of WeChat's GET when the server URL is saved in the account's settings."""
    return {
        "signature": signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echostr,
    }


def plaintext_post(
    xml: bytes,
    token: str = TOKEN,
    timestamp: str = "1700000000",
    nonce: str = "123456",
    openid: str = OPENID,
) -> SignedRequest:
    """A message POST in plaintext mode (no EncodingAESKey)."""
    query = {
        "signature": signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
    }
    return SignedRequest(query, xml)


def safe_mode_post(
    xml: bytes,
    token: str = TOKEN,
    encoding_aes_key: str = ENCODING_AES_KEY,
    app_id: str = APP_ID,
    timestamp: str = "1700000000",
    nonce: str = "123456",
    openid: str = OPENID,
) -> SignedRequest:
    """A message POST in safe mode: the XML encrypted, signed by msg_signature."""
    ciphertext = encrypt(xml, aes_key(encoding_aes_key), app_id)
    body = (
        f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName>"
        f"<Encrypt>{cdata(ciphertext)}</Encrypt></xml>"
    ).encode()
    query = plaintext_post(body, token, timestamp, nonce, openid).query
    query |= {
        "encrypt_type": "aes",
        "msg_signature": signature(token, timestamp, nonce, ciphertext),
    }
    return SignedRequest(query, body)


def open_safe_mode_reply(
    body: bytes,
    token: str = TOKEN,
    encoding_aes_key: str = ENCODING_AES_KEY,
    app_id: str = APP_ID,
) -> dict[str, str]:
    """The fields of a safe-mode passive reply, after checking its signature as WeChat does."""
    envelope = read_fields(body)
    ciphertext = envelope["Encrypt"]
    signed = check_signature(
        token, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"], ciphertext
    )
    assert signed, "the reply's MsgSignature is wrong"
    return read_fields(decrypt(ciphertext, aes_key(encoding_aes_key), app_id))


def safe_mode(
    token: str = TOKEN, encoding_aes_key: str = ENCODING_AES_KEY, app_id: str = APP_ID
) -> SafeMode:
    """The account's SafeMode with the test settings."""
    return SafeMode.from_settings(token, encoding_aes_key, app_id)


def message_xml(fields: dict[str, str | int | float]) -> bytes:
    """An inbound message XML with these fields (numbers bare, text as CDATA, as WeChat does)."""
    parts = [
        f"<{name}>{value if isinstance(value, int | float) else cdata(value)}</{name}>"
        for name, value in fields.items()
    ]
    return ("<xml>" + "".join(parts) + "</xml>").encode()


def _head(msg_type: str, openid: str, create_time: int) -> dict[str, str | int | float]:
    return {
        "ToUserName": ACCOUNT,
        "FromUserName": openid,
        "CreateTime": create_time,
        "MsgType": msg_type,
    }


def text_xml(
    content: str, msg_id: int = 1, openid: str = OPENID, create_time: int = 1700000000
) -> bytes:
    """A text message."""
    return message_xml(_head("text", openid, create_time) | {"Content": content, "MsgId": msg_id})


def voice_xml(
    recognition: str | None,
    msg_id: int = 2,
    openid: str = OPENID,
    create_time: int = 1700000000,
) -> bytes:
    """A voice message, with WeChat's transcript when `recognition` is given."""
    fields = _head("voice", openid, create_time) | {
        "MediaId": "media-voice-1",
        "Format": "amr",
        "MsgId": msg_id,
    }
    if recognition is not None:
        fields["Recognition"] = recognition
    return message_xml(fields)


def location_xml(
    latitude: float,
    longitude: float,
    label: str = "",
    msg_id: int = 3,
    openid: str = OPENID,
    create_time: int = 1700000000,
) -> bytes:
    """A location message (Location_X is the latitude, Location_Y the longitude)."""
    return message_xml(
        _head("location", openid, create_time)
        | {
            "Location_X": latitude,
            "Location_Y": longitude,
            "Scale": 15,
            "Label": label,
            "MsgId": msg_id,
        }
    )


def media_xml(
    msg_type: str, msg_id: int = 4, openid: str = OPENID, create_time: int = 1700000000
) -> bytes:
    """An image, video, shortvideo or link message (what the bot only acknowledges)."""
    fields = _head(msg_type, openid, create_time) | {"MsgId": msg_id}
    if msg_type == "link":
        fields |= {"Title": "a link", "Description": "", "Url": "https://example.com/"}
    else:
        fields |= {"MediaId": f"media-{msg_type}-1"}
        fields |= {"PicUrl": "https://example.com/p.jpg"} if msg_type == "image" else {}
        fields |= {"ThumbMediaId": "thumb-1"} if msg_type != "image" else {}
    return message_xml(fields)


def event_xml(
    event: str, event_key: str | None = None, openid: str = OPENID, create_time: int = 1700000000
) -> bytes:
    """An event: subscribe, unsubscribe, CLICK (with the button's key), VIEW ..."""
    fields = _head("event", openid, create_time) | {"Event": event}
    if event_key is not None:
        fields["EventKey"] = event_key
    return message_xml(fields)
