"""The WeChat Official Account (公众号) server protocol, pure: no I/O and no clock (only the
random bytes encryption needs). Signatures, safe-mode (AES) envelopes, inbound XML into a
typed WeChatMessage, and the passive text reply, so the web adapter only moves bytes.

The adapter needs three calls: check_url_query (the GET check), open_request (a signed POST
to a WeChatMessage) and passive_reply (the answer, sealed in safe mode).

XML is read with the standard library's expat (what xml.etree itself uses), with a DOCTYPE
refused outright: WeChat never sends one, and refusing it shuts out entity expansion and
external entities at the root instead of trusting each parser's defaults. That is why
defusedxml is not needed. Crypto uses `cryptography` directly (see SafeMode for why not
wechatpy).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from xml.parsers import expat

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# A WeChat message is a few hundred bytes to a few KiB; 64 KiB leaves room for the base64 of a
# safe-mode envelope and anything WeChat adds, while keeping a flood of large bodies cheap
# to refuse before parsing.
MAX_BODY_BYTES = 64 * 1024
ENCODING_AES_KEY_LENGTH = 43  # 32 bytes in base64 without its final "="
PKCS7_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
RANDOM_PREFIX_BYTES = 16
LENGTH_FIELD = struct.Struct(">I")

# Message types whose XML carries a MsgId (events carry none): the dedup key needs it.
TYPES_WITH_MSG_ID = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link"})
# Fields each type cannot do without; anything else is optional.
REQUIRED_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
REQUIRED_BY_TYPE = {
    "voice": ("MediaId",),
    "image": ("MediaId",),
    "video": ("MediaId",),
    "shortvideo": ("MediaId",),
    "location": ("Location_X", "Location_Y"),
    "event": ("Event",),
}

# Characters XML 1.0 cannot carry at all: one in a reply makes it malformed, and WeChat then
# shows the resident "该公众号暂时无法提供服务" instead of the answer.
# Lone surrogates too: they cannot even be encoded as UTF-8.
XML_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# How far a request's timestamp may be from our clock (see timestamp_is_fresh).
TIMESTAMP_TOLERANCE_SECONDS = 300


class WeChatProtocolError(ValueError):
    """A request that does not follow WeChat's protocol: malformed, unsigned or undecryptable.

    The message is safe to log: it never contains the token or the AES key, and of the body
    at most 20 characters of a malformed field.
    """


@dataclass(frozen=True, slots=True)
class WeChatMessage:
    """One inbound message or event, as WeChat sent it."""

    to_user: str  # the Official Account's own id (gh_...)
    from_user: str  # the resident's openid for this account
    create_time: int  # seconds since the epoch, WeChat's clock
    msg_type: str  # text, image, voice, video, shortvideo, location, link, event, ...
    msg_id: str | None = None  # absent on events
    content: str | None = None  # text
    recognition: str | None = None  # voice: WeChat's transcript, when recognition is on
    media_id: str | None = None  # image, voice, video
    latitude: float | None = None  # location: Location_X
    longitude: float | None = None  # location: Location_Y
    scale: int | None = None  # location: map zoom level
    label: str | None = None  # location: the place's name or address
    event: str | None = None  # subscribe, unsubscribe, CLICK, VIEW, LOCATION, ...
    event_key: str | None = None  # CLICK: the menu button's key; VIEW: its URL

    @property
    def text(self) -> str | None:
        """What the resident said in words: typed text, or the transcript of a voice message."""
        if self.msg_type == "text":
            return self.content
        if self.msg_type == "voice" and self.recognition:
            return self.recognition
        return None


# --- signatures ---------------------------------------------------------------------------


def signature(token: str, timestamp: str, nonce: str, encrypt: str | None = None) -> str:
    """WeChat's signature: sha1 of the sorted token, timestamp, nonce (and ciphertext)."""
    parts = [token, timestamp, nonce] if encrypt is None else [token, timestamp, nonce, encrypt]
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(
    token: str, given: str, timestamp: str, nonce: str, encrypt: str | None = None
) -> bool:
    """Whether `given` is the signature of these values (constant time, so no timing oracle)."""
    expected = signature(token, timestamp, nonce, encrypt)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


# --- safe mode (AES) ------------------------------------------------------------------------


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey of the account's settings."""
    if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
        raise WeChatProtocolError(
            f"the EncodingAESKey must be {ENCODING_AES_KEY_LENGTH} characters, "
            f"not {len(encoding_aes_key)}"
        )
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as error:
        raise WeChatProtocolError("the EncodingAESKey is not valid base64") from error
    if len(key) != 32:
        raise WeChatProtocolError("the EncodingAESKey does not decode to 32 bytes")
    return key


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    """AES-256-CBC with the IV WeChat uses: the key's first 16 bytes."""
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def _pad(data: bytes) -> bytes:
    """PKCS#7 to WeChat's 32-byte block (a full block when already aligned)."""
    count = PKCS7_BLOCK - len(data) % PKCS7_BLOCK
    return data + bytes([count]) * count


def _unpad(data: bytes) -> bytes:
    """Removes the 32-byte PKCS#7 padding, refusing padding that is not well formed."""
    count = data[-1] if data else 0
    if not 1 <= count <= PKCS7_BLOCK or data[-count:] != bytes([count]) * count:
        raise WeChatProtocolError("the decrypted message has bad padding")
    return data[:-count]


def encrypt(message: bytes, key: bytes, app_id: str, random_prefix: bytes | None = None) -> str:
    """The base64 ciphertext of `message` for this account, framed as WeChat frames it.

    `random_prefix` (16 bytes) is for tests that reproduce a known vector; by default it is
    fresh random bytes each time.
    """
    prefix = os.urandom(RANDOM_PREFIX_BYTES) if random_prefix is None else random_prefix
    if len(prefix) != RANDOM_PREFIX_BYTES:
        raise ValueError(f"random_prefix must be {RANDOM_PREFIX_BYTES} bytes")
    plain = prefix + LENGTH_FIELD.pack(len(message)) + message + app_id.encode()
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(_pad(plain)) + encryptor.finalize()).decode()


def decrypt(ciphertext: str, key: bytes, app_id: str) -> bytes:
    """The message inside a base64 ciphertext, after checking it was framed for this app id."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
    except binascii.Error as error:
        raise WeChatProtocolError("the encrypted message is not valid base64") from error
    if not raw or len(raw) % 16:
        raise WeChatProtocolError("the encrypted message is not whole AES blocks")
    decryptor = _cipher(key).decryptor()
    plain = _unpad(decryptor.update(raw) + decryptor.finalize())
    return _unframe(plain, app_id)


def _unframe(plain: bytes, app_id: str) -> bytes:
    """The message between the random prefix and the app id, which must be ours."""
    header = RANDOM_PREFIX_BYTES + LENGTH_FIELD.size
    if len(plain) < header:
        raise WeChatProtocolError("the decrypted message is too short")
    (length,) = LENGTH_FIELD.unpack_from(plain, RANDOM_PREFIX_BYTES)
    if length > len(plain) - header:
        raise WeChatProtocolError("the decrypted message's length field is wrong")
    message, sender = plain[header : header + length], plain[header + length :]
    # a message sealed for another account (or garbage decrypting by chance) ends here
    if not hmac.compare_digest(sender, app_id.encode()):
        raise WeChatProtocolError("the encrypted message is for another app id")
    return message


@dataclass(frozen=True)
class SafeMode:
    """An account's safe-mode settings: opens encrypted requests and seals replies.

    Built on `cryptography` rather than wechatpy: wechatpy's crypto is the same few lines
    over `cryptography` anyway, while its message parsing has no size limit or DOCTYPE
    refusal and its HTTP client is synchronous (it would block the event loop), so taking
    it would add a large dependency for the part that is easy to get right.
    """

    token: str
    key: bytes
    app_id: str

    @classmethod
    def from_settings(cls, token: str, encoding_aes_key: str, app_id: str) -> SafeMode:
        """Checks the EncodingAESKey once, at start-up, rather than on each message."""
        return cls(token=token, key=aes_key(encoding_aes_key), app_id=app_id)

    def __repr__(self) -> str:
        return f"SafeMode(app_id={self.app_id!r})"  # the token and the key stay out of logs

    def open(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        """The plaintext XML inside a signed safe-mode POST body."""
        ciphertext = read_fields(body).get("Encrypt")
        if not ciphertext:
            raise WeChatProtocolError("the safe-mode message has no <Encrypt>")
        # Signature first: without the token nobody gets as far as the decryption, so its
        # errors (bad padding, wrong app id) cannot serve as a padding oracle.
        if not check_signature(self.token, msg_signature, timestamp, nonce, ciphertext):
            raise WeChatProtocolError("the msg_signature is wrong")
        return decrypt(ciphertext, self.key, self.app_id)

    def seal(
        self, reply_xml: str, timestamp: str, nonce: str, random_prefix: bytes | None = None
    ) -> str:
        """The encrypted, signed envelope carrying a passive reply in safe mode."""
        ciphertext = encrypt(reply_xml.encode(), self.key, self.app_id, random_prefix)
        return render_envelope(
            ciphertext, signature(self.token, timestamp, nonce, ciphertext), timestamp, nonce
        )


# --- reading inbound XML -------------------------------------------------------------------


class _FieldReader:
    """Collects the text of each child of the <xml> root; deeper elements are skipped."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.depth = 0
        self.current: str | None = None
        self.chunks: list[str] = []

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 1 and name != "xml":
            raise WeChatProtocolError(f"the root element is <{name[:20]}>, not <xml>")
        if self.depth == 2:
            if name in self.fields:
                raise WeChatProtocolError(f"the field {name[:20]} appears twice")
            self.current, self.chunks = name, []

    def end(self, name: str) -> None:
        if self.depth == 2 and self.current is not None:
            self.fields[self.current] = "".join(self.chunks)
            self.current = None
        self.depth -= 1

    def text(self, data: str) -> None:
        if self.depth == 2:
            self.chunks.append(data)


def _refuse_doctype(*_: object) -> None:
    raise WeChatProtocolError("XML with a DOCTYPE is refused")


def read_fields(body: bytes) -> dict[str, str]:
    """The top-level fields of a WeChat XML body, by name, refusing anything suspicious."""
    if len(body) > MAX_BODY_BYTES:
        raise WeChatProtocolError(f"the body is over {MAX_BODY_BYTES} bytes")
    reader = _FieldReader()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    try:
        parser.Parse(body, True)
    except expat.ExpatError as error:
        raise WeChatProtocolError(f"malformed XML: {expat.errors.messages[error.code]}") from None
    return reader.fields


def _check_required(fields: dict[str, str], msg_type: str) -> None:
    """Refuses a message missing a field its type cannot do without, naming them all."""
    needed = (*REQUIRED_FIELDS, *REQUIRED_BY_TYPE.get(msg_type, ()))
    if msg_type in TYPES_WITH_MSG_ID:
        needed = (*needed, "MsgId")
    missing = [name for name in needed if not fields.get(name, "").strip()]
    if msg_type == "text" and "Content" not in fields:
        missing.append("Content")  # an empty Content is odd but readable; a missing one is not
    if missing:
        raise WeChatProtocolError(f"a {msg_type or 'message'} without {', '.join(missing)}")


def _int_field(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise WeChatProtocolError(f"the field {name} is not an integer: {value[:20]!r}") from None


def _float_field(fields: dict[str, str], name: str) -> float | None:
    value = fields.get(name, "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise WeChatProtocolError(f"the field {name} is not a number: {value[:20]!r}") from None


def _optional(fields: dict[str, str], name: str) -> str | None:
    value = fields.get(name)
    return value if value else None


def parse_message(body: bytes) -> WeChatMessage:
    """The message in a plaintext XML body (or in the plaintext a SafeMode opened)."""
    fields = read_fields(body)
    msg_type = fields.get("MsgType", "").strip()
    _check_required(fields, msg_type)
    return WeChatMessage(
        to_user=fields["ToUserName"].strip(),
        from_user=fields["FromUserName"].strip(),
        create_time=_int_field(fields, "CreateTime") or 0,
        msg_type=msg_type,
        msg_id=_optional(fields, "MsgId"),
        content=fields.get("Content"),
        recognition=_optional(fields, "Recognition"),
        media_id=_optional(fields, "MediaId"),
        latitude=_float_field(fields, "Location_X"),
        longitude=_float_field(fields, "Location_Y"),
        scale=_int_field(fields, "Scale"),
        label=_optional(fields, "Label"),
        event=_optional(fields, "Event"),
        event_key=_optional(fields, "EventKey"),
    )


def dedup_key(message: WeChatMessage) -> str:
    """The same for each of WeChat's (up to three) tries of one message, different otherwise.

    Messages by MsgId; events, which have none, by sender and CreateTime as WeChat advises,
    plus the event name, so a subscribe and a LOCATION report in the same second stay apart.
    """
    if message.msg_id:
        return f"wechat:msg:{message.msg_id}"
    return f"wechat:event:{message.from_user}:{message.create_time}:{message.event or ''}"


# --- whole requests ---------------------------------------------------------------------------


def _query_fields(query: Mapping[str, str], *names: str) -> list[str]:
    """These fields of the request's query, refusing the request when one is missing."""
    missing = [name for name in names if not query.get(name)]
    if missing:
        raise WeChatProtocolError(f"the query has no {', '.join(missing)}")
    return [query[name] for name in names]


def check_url_query(token: str, query: Mapping[str, str]) -> str:
    """The echostr to answer WeChat's URL check (GET) with, if the query is signed by `token`."""
    given, timestamp, nonce, echostr = _query_fields(
        query, "signature", "timestamp", "nonce", "echostr"
    )
    if not check_signature(token, given, timestamp, nonce):
        raise WeChatProtocolError("the signature is wrong")
    return echostr


def open_request(
    token: str, query: Mapping[str, str], body: bytes, safe_mode: SafeMode | None
) -> WeChatMessage:
    """The message in a POST from WeChat, after checking its signature (and decrypting it).

    With `safe_mode` set, only an encrypted body signed by msg_signature is accepted: a
    plaintext one is refused, so nobody can downgrade the account to plaintext.
    """
    if safe_mode is None:
        given, timestamp, nonce = _query_fields(query, "signature", "timestamp", "nonce")
        if not check_signature(token, given, timestamp, nonce):
            raise WeChatProtocolError("the signature is wrong")
        return parse_message(body)
    given, timestamp, nonce = _query_fields(query, "msg_signature", "timestamp", "nonce")
    return parse_message(safe_mode.open(body, given, timestamp, nonce))


def timestamp_is_fresh(
    timestamp: str, now: float, tolerance: float = TIMESTAMP_TOLERANCE_SECONDS
) -> bool:
    """Whether a request's timestamp is within `tolerance` seconds of `now`.

    A signed request stays valid forever, so someone who captured one could replay it;
    refusing stale ones closes that (MsgId dedup already stops replays of recent ones).
    WeChat's own retries come within seconds, so 5 minutes leaves room for clock skew.
    """
    try:
        return abs(int(timestamp) - now) <= tolerance
    except ValueError:
        return False


def passive_reply(
    message: WeChatMessage,
    text: str,
    create_time: int,
    safe_mode: SafeMode | None,
    nonce: str,
    random_prefix: bytes | None = None,
) -> str:
    """The HTTP body answering `message` with `text`: plain XML, or sealed in safe mode.

    `nonce` may be the request's own (as WeChat's samples do) or a fresh one.
    """
    xml = reply_to(message, text, create_time)
    if safe_mode is None:
        return xml
    return safe_mode.seal(xml, str(create_time), nonce, random_prefix)


# --- rendering replies -----------------------------------------------------------------------


def cdata(text: str) -> str:
    """Text as CDATA that stays well formed whatever it holds ("]]>" included)."""
    clean = XML_ILLEGAL_CHARS.sub("", text)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(to_user: str, from_user: str, text: str, create_time: int) -> str:
    """The passive text reply XML: `to_user` is the resident's openid, `from_user` the account."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        f"<MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(text)}</Content></xml>"
    )


def reply_to(message: WeChatMessage, text: str, create_time: int) -> str:
    """The passive text reply answering `message` (sender and receiver swapped)."""
    return render_text_reply(message.from_user, message.to_user, text, create_time)


def render_envelope(ciphertext: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode reply envelope around an already encrypted and signed reply."""
    return (
        f"<xml><Encrypt>{cdata(ciphertext)}</Encrypt>"
        f"<MsgSignature>{cdata(msg_signature)}</MsgSignature>"
        f"<TimeStamp>{int(timestamp)}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce></xml>"
    )
