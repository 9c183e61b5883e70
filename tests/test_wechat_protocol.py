"""The WeChat protocol layer: signatures, safe-mode AES, parsing inbound XML, passive replies."""

from __future__ import annotations

import base64
import hashlib

import pytest
from fake_wechat import (
    ACCOUNT,
    APP_ID,
    OPENID,
    TOKEN,
    event_xml,
    location_xml,
    media_xml,
    open_safe_mode_reply,
    plaintext_post,
    safe_mode,
    safe_mode_post,
    text_xml,
    url_check_query,
    voice_xml,
)

from handlers.wechat_protocol import (
    MAX_BODY_BYTES,
    SafeMode,
    WeChatMessage,
    WeChatProtocolError,
    aes_key,
    cdata,
    check_signature,
    check_url_query,
    decrypt,
    dedup_key,
    encrypt,
    open_request,
    parse_message,
    passive_reply,
    read_fields,
    render_text_reply,
    reply_to,
    signature,
    timestamp_is_fresh,
)

# wechatpy's known vector (tests/test_crypto.py): its framing is the Official Account's, with
# a WeChat Work corp id in the app id's place.
VECTOR_TOKEN = "123456"
VECTOR_AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
VECTOR_APP_ID = "wx49f0ab532d5d035a"
VECTOR_TIMESTAMP = "1411525903"
VECTOR_NONCE = "461056294"
VECTOR_INBOUND = b"""<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>
<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>
<AgentID><![CDATA[1]]></AgentID>
</xml>"""
VECTOR_INBOUND_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
VECTOR_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
VECTOR_REPLY_PREFIX = b"1234567890123456"
VECTOR_REPLY_CIPHERTEXT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGs"
    "L8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSj"
    "PUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJv"
    "FurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFY"
    "FMNMpatF9XiKzHo3"
)
VECTOR_REPLY_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"


def vector_safe_mode() -> SafeMode:
    return SafeMode.from_settings(VECTOR_TOKEN, VECTOR_AES_KEY, VECTOR_APP_ID)


# --- signatures ---------------------------------------------------------------------------


def test_url_check_signature_is_valid():
    query = url_check_query("echo-me")
    assert check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])


def test_signature_of_another_token_or_nonce_is_refused():
    query = url_check_query("echo-me")
    assert not check_signature("other-token", query["signature"], "1700000000", "123456")
    assert not check_signature(TOKEN, query["signature"], "1700000000", "654321")
    assert not check_signature(TOKEN, "", "1700000000", "123456")
    assert not check_signature(TOKEN, "not hex at all, 签名", "1700000000", "123456")


def test_signature_is_sha1_of_the_sorted_parts():
    # sorted as strings, digits before letters: WeChat's documented recipe
    expected = hashlib.sha1(b"1411443780" + b"437374425" + b"tok").hexdigest()
    assert signature("tok", "1411443780", "437374425") == expected


def test_known_vector_msg_signature_is_valid():
    ciphertext = read_fields(VECTOR_INBOUND)["Encrypt"]
    assert check_signature(
        VECTOR_TOKEN, VECTOR_INBOUND_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_NONCE, ciphertext
    )


# --- safe mode -------------------------------------------------------------------------------


def test_known_vector_decrypts_to_wechats_message():
    plain = vector_safe_mode().open(
        VECTOR_INBOUND, VECTOR_INBOUND_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_NONCE
    )
    fields = read_fields(plain)
    assert fields["Content"] == "test"
    assert fields["FromUserName"] == "messense"
    assert fields["MsgId"] == "4363689963896700987"


def test_known_vector_reply_encrypts_and_signs_exactly_as_wechatpy():
    envelope = vector_safe_mode().seal(
        VECTOR_REPLY, VECTOR_TIMESTAMP, VECTOR_NONCE, random_prefix=VECTOR_REPLY_PREFIX
    )
    fields = read_fields(envelope.encode())
    assert fields == {
        "Encrypt": VECTOR_REPLY_CIPHERTEXT,
        "MsgSignature": VECTOR_REPLY_SIGNATURE,
        "TimeStamp": VECTOR_TIMESTAMP,
        "Nonce": VECTOR_NONCE,
    }


def test_encrypt_then_decrypt_gives_the_message_back():
    key = aes_key(VECTOR_AES_KEY)
    for message in (b"", b"x", "社区食堂几点开门".encode(), b"y" * 1000):
        assert decrypt(encrypt(message, key, APP_ID), key, APP_ID) == message


def test_each_encryption_uses_a_fresh_random_prefix():
    key = aes_key(VECTOR_AES_KEY)
    assert encrypt(b"same", key, APP_ID) != encrypt(b"same", key, APP_ID)


def test_message_sealed_for_another_app_id_is_refused():
    key = aes_key(VECTOR_AES_KEY)
    ciphertext = encrypt(b"<xml/>", key, "wxSomeOtherAccount")
    with pytest.raises(WeChatProtocolError, match="another app id"):
        decrypt(ciphertext, key, APP_ID)


def test_known_vector_is_refused_for_another_app_id():
    other = SafeMode.from_settings(VECTOR_TOKEN, VECTOR_AES_KEY, "wx0000000000000000")
    with pytest.raises(WeChatProtocolError, match="another app id"):
        other.open(VECTOR_INBOUND, VECTOR_INBOUND_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_NONCE)


def test_tampered_ciphertext_is_refused():
    key = aes_key(VECTOR_AES_KEY)
    raw = bytearray(base64.b64decode(encrypt(b"<xml>hello</xml>", key, APP_ID)))
    for position in (0, len(raw) // 2, len(raw) - 1):
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        with pytest.raises(WeChatProtocolError):
            decrypt(base64.b64encode(bytes(tampered)).decode(), key, APP_ID)


def test_truncated_or_non_base64_ciphertext_is_refused():
    key = aes_key(VECTOR_AES_KEY)
    ciphertext = encrypt(b"<xml>hello</xml>", key, APP_ID)
    for bad in (ciphertext[:-8], "", "not base64 !!", base64.b64encode(b"x" * 15).decode()):
        with pytest.raises(WeChatProtocolError):
            decrypt(bad, key, APP_ID)


def test_safe_mode_post_with_a_wrong_msg_signature_is_refused():
    request = safe_mode_post(text_xml("你好"))
    with pytest.raises(WeChatProtocolError, match="msg_signature"):
        safe_mode().open(request.body, "0" * 40, request.query["timestamp"], "123456")


def test_safe_mode_post_without_encrypt_is_refused():
    with pytest.raises(WeChatProtocolError, match="Encrypt"):
        safe_mode().open(text_xml("你好"), "0" * 40, "1700000000", "123456")


def test_safe_mode_post_built_for_tests_opens_to_the_message():
    request = safe_mode_post(text_xml("食堂几点开门", msg_id=77))
    query = request.query
    assert query["encrypt_type"] == "aes"
    plain = safe_mode().open(
        request.body, query["msg_signature"], query["timestamp"], query["nonce"]
    )
    assert parse_message(plain).content == "食堂几点开门"


def test_safe_mode_reply_round_trip():
    reply = render_text_reply(OPENID, ACCOUNT, "您好 ]]> 再见", 1700000001)
    envelope = safe_mode().seal(reply, "1700000001", "nonce42")
    assert open_safe_mode_reply(envelope.encode())["Content"] == "您好 ]]> 再见"


@pytest.mark.parametrize(
    "bad_key",
    ["", "short", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a", "!" * 43],
)
def test_malformed_encoding_aes_key_is_refused(bad_key: str):
    with pytest.raises(WeChatProtocolError, match="EncodingAESKey"):
        aes_key(bad_key)


def test_safe_mode_repr_shows_neither_token_nor_key():
    shown = repr(vector_safe_mode())
    assert VECTOR_TOKEN not in shown
    assert VECTOR_AES_KEY not in shown
    assert VECTOR_APP_ID in shown


# --- parsing inbound messages ------------------------------------------------------------------


def test_text_message_is_parsed():
    message = parse_message(text_xml("食堂几点开门", msg_id=1234567890123456789))
    assert message == WeChatMessage(
        to_user=ACCOUNT,
        from_user=OPENID,
        create_time=1700000000,
        msg_type="text",
        msg_id="1234567890123456789",
        content="食堂几点开门",
    )
    assert message.text == "食堂几点开门"


def test_voice_message_with_recognition_reads_as_its_transcript():
    message = parse_message(voice_xml("食堂几点开门？"))
    assert message.msg_type == "voice"
    assert message.media_id == "media-voice-1"
    assert message.recognition == "食堂几点开门？"
    assert message.text == "食堂几点开门？"


def test_voice_message_without_recognition_has_no_text():
    for recognition in (None, ""):
        message = parse_message(voice_xml(recognition))
        assert message.recognition is None
        assert message.text is None


def test_location_message_is_parsed():
    message = parse_message(location_xml(31.2304, 121.4737, "上海市黄浦区人民广场"))
    assert (message.latitude, message.longitude) == (31.2304, 121.4737)
    assert message.scale == 15
    assert message.label == "上海市黄浦区人民广场"
    assert message.text is None


@pytest.mark.parametrize("msg_type", ["image", "video", "shortvideo", "link"])
def test_media_and_link_messages_are_parsed(msg_type: str):
    message = parse_message(media_xml(msg_type, msg_id=99))
    assert message.msg_type == msg_type
    assert message.msg_id == "99"
    assert message.text is None
    assert (message.media_id is None) == (msg_type == "link")


def test_subscribe_event_is_parsed():
    message = parse_message(event_xml("subscribe"))
    assert (message.msg_type, message.event, message.msg_id) == ("event", "subscribe", None)
    assert message.event_key is None


def test_menu_click_event_carries_the_buttons_key():
    message = parse_message(event_xml("CLICK", "topic.canteen"))
    assert (message.event, message.event_key) == ("CLICK", "topic.canteen")


def test_unknown_message_type_is_parsed_not_refused():
    xml = b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
    xml += b"<CreateTime>1</CreateTime><MsgType>miniprogrampage</MsgType></xml>"
    assert parse_message(xml).msg_type == "miniprogrampage"


def test_nested_elements_are_skipped():
    xml = event_xml("scancode_push", "k").replace(
        b"</xml>", b"<ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo></xml>"
    )
    assert read_fields(xml)["ScanCodeInfo"] == ""
    assert parse_message(xml).event == "scancode_push"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"", "malformed XML"),
        (b"<xml><Content>unclosed</xml>", "malformed XML"),
        (b"not xml at all", "malformed XML"),
        (b"<xml></xml><xml></xml>", "malformed XML"),
        (b"\xff\xfe<xml/>", "malformed XML"),
        (b"<root><MsgType>text</MsgType></root>", "not <xml>"),
        (b"<xml><MsgId>1</MsgId><MsgId>2</MsgId></xml>", "twice"),
    ],
)
def test_malformed_xml_is_refused(body: bytes, complaint: str):
    with pytest.raises(WeChatProtocolError, match=complaint):
        parse_message(body)


@pytest.mark.parametrize(
    ("xml", "missing"),
    [
        (b"<xml><MsgType>text</MsgType></xml>", "ToUserName, FromUserName, CreateTime"),
        (text_xml("hi").replace(b"<MsgId>1</MsgId>", b""), "MsgId"),
        (text_xml("hi").replace(b"<Content><![CDATA[hi]]></Content>", b""), "Content"),
        (location_xml(1, 2).replace(b"<Location_Y>2</Location_Y>", b""), "Location_Y"),
        (event_xml("subscribe").replace(b"<Event><![CDATA[subscribe]]></Event>", b""), "Event"),
    ],
)
def test_message_missing_a_field_is_refused_naming_it(xml: bytes, missing: str):
    with pytest.raises(WeChatProtocolError, match=missing):
        parse_message(xml)


def test_non_numeric_create_time_or_location_is_refused():
    with pytest.raises(WeChatProtocolError, match="CreateTime"):
        parse_message(text_xml("hi").replace(b"1700000000", b"yesterday"))
    with pytest.raises(WeChatProtocolError, match="Location_X"):
        parse_message(location_xml(31.2, 121.4).replace(b"31.2", b"north"))


def test_doctype_is_refused():
    body = b'<?xml version="1.0"?><!DOCTYPE xml><xml><MsgType>text</MsgType></xml>'
    with pytest.raises(WeChatProtocolError, match="DOCTYPE"):
        parse_message(body)


def test_entity_expansion_is_refused():
    body = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<xml><Content>&lol2;</Content></xml>"
    )
    with pytest.raises(WeChatProtocolError, match="DOCTYPE"):
        parse_message(body)


def test_external_entity_is_refused():
    body = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        b"<xml><Content>&secret;</Content></xml>"
    )
    with pytest.raises(WeChatProtocolError, match="DOCTYPE"):
        parse_message(body)


def test_oversized_body_is_refused_before_parsing():
    body = text_xml("长" * MAX_BODY_BYTES)
    with pytest.raises(WeChatProtocolError, match="bytes"):
        parse_message(body)


def test_body_just_under_the_limit_is_parsed():
    head = len(text_xml(""))
    content = "x" * (MAX_BODY_BYTES - head)
    assert parse_message(text_xml(content)).content == content


def test_plaintext_post_is_signed_without_msg_signature():
    request = plaintext_post(text_xml("hi"))
    query = request.query
    assert "msg_signature" not in query
    assert check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])


# --- dedup keys ---------------------------------------------------------------------------------


def test_retries_of_one_message_share_a_dedup_key():
    first = parse_message(text_xml("hi", msg_id=42))
    retry = parse_message(text_xml("hi", msg_id=42))
    other = parse_message(text_xml("hi", msg_id=43))
    assert dedup_key(first) == dedup_key(retry) != dedup_key(other)


def test_events_are_deduplicated_by_sender_and_create_time():
    subscribe = parse_message(event_xml("subscribe", create_time=1700000000))
    retry = parse_message(event_xml("subscribe", create_time=1700000000))
    later = parse_message(event_xml("subscribe", create_time=1700000001))
    someone_else = parse_message(event_xml("subscribe", openid="oOther", create_time=1700000000))
    assert dedup_key(subscribe) == dedup_key(retry)
    assert len({dedup_key(subscribe), dedup_key(later), dedup_key(someone_else)}) == 3


# --- passive replies ------------------------------------------------------------------------------


def test_text_reply_swaps_sender_and_receiver():
    message = parse_message(text_xml("hi"))
    fields = read_fields(reply_to(message, "您好！", 1700000005).encode())
    assert fields == {
        "ToUserName": OPENID,
        "FromUserName": ACCOUNT,
        "CreateTime": "1700000005",
        "MsgType": "text",
        "Content": "您好！",
    }


@pytest.mark.parametrize(
    "text",
    ["a ]]> b", "]]>", "]]]]>", "<xml>&amp;</xml>", "]]><![CDATA[", "多行\n文本\r\n", "]"],
)
def test_reply_text_survives_any_cdata_terminator(text: str):
    xml = render_text_reply(OPENID, ACCOUNT, text, 1)
    assert read_fields(xml.encode())["Content"] == text.replace("\r\n", "\n")


def test_reply_drops_characters_xml_cannot_carry():
    xml = render_text_reply(OPENID, ACCOUNT, "a\x00b\x07c\x1bd", 1)
    assert read_fields(xml.encode())["Content"] == "abcd"


def test_cdata_of_plain_text_is_the_plain_wrapper():
    assert cdata("食堂") == "<![CDATA[食堂]]>"


def test_reply_drops_lone_surrogates_that_utf8_cannot_encode():
    xml = render_text_reply(OPENID, ACCOUNT, "a\ud800b", 1)
    assert read_fields(xml.encode())["Content"] == "ab"


# --- whole requests, as the web adapter sees them ---------------------------------------------


def test_url_check_answers_echostr_when_signed():
    assert check_url_query(TOKEN, url_check_query("echo-1234")) == "echo-1234"


def test_url_check_with_a_wrong_or_missing_signature_is_refused():
    with pytest.raises(WeChatProtocolError, match="signature is wrong"):
        check_url_query("another-token", url_check_query("echo-1234"))
    query = url_check_query("echo-1234")
    del query["signature"]
    with pytest.raises(WeChatProtocolError, match="no signature"):
        check_url_query(TOKEN, query)


def test_plaintext_post_opens_to_the_message():
    request = plaintext_post(text_xml("食堂几点开门"))
    assert open_request(TOKEN, request.query, request.body, None).content == "食堂几点开门"


def test_plaintext_post_with_a_bad_signature_is_refused():
    request = plaintext_post(text_xml("hi"), token="not-our-token")
    with pytest.raises(WeChatProtocolError, match="signature is wrong"):
        open_request(TOKEN, request.query, request.body, None)


def test_unsigned_post_is_refused():
    with pytest.raises(WeChatProtocolError, match="no signature, timestamp, nonce"):
        open_request(TOKEN, {}, text_xml("hi"), None)


def test_safe_mode_post_opens_to_the_message():
    request = safe_mode_post(voice_xml("我想捐款"))
    message = open_request(TOKEN, request.query, request.body, safe_mode())
    assert (message.msg_type, message.text) == ("voice", "我想捐款")


def test_plaintext_post_is_refused_when_safe_mode_is_on():
    request = plaintext_post(text_xml("hi"))
    with pytest.raises(WeChatProtocolError, match="msg_signature"):
        open_request(TOKEN, request.query, request.body, safe_mode())
    request.query["msg_signature"] = request.query["signature"]
    with pytest.raises(WeChatProtocolError, match="Encrypt"):
        open_request(TOKEN, request.query, request.body, safe_mode())


def test_safe_mode_post_signed_with_another_token_is_refused():
    request = safe_mode_post(text_xml("hi"), token="not-our-token")
    with pytest.raises(WeChatProtocolError, match="msg_signature"):
        open_request(TOKEN, request.query, request.body, safe_mode())


def test_safe_mode_post_encrypted_with_another_key_is_refused():
    other_key = "Z" * 42 + "A"
    request = safe_mode_post(text_xml("hi"), encoding_aes_key=other_key)
    with pytest.raises(WeChatProtocolError):
        open_request(TOKEN, request.query, request.body, safe_mode())


def test_passive_reply_in_plaintext_mode_is_the_reply_xml():
    message = parse_message(text_xml("hi"))
    body = passive_reply(message, "您好", 1700000001, None, "n1")
    assert read_fields(body.encode())["Content"] == "您好"


def test_passive_reply_in_safe_mode_opens_to_the_reply():
    message = parse_message(text_xml("hi"))
    body = passive_reply(message, "您好", 1700000001, safe_mode(), "n1")
    fields = open_safe_mode_reply(body.encode())
    assert (fields["ToUserName"], fields["Content"]) == (OPENID, "您好")


@pytest.mark.parametrize(
    ("timestamp", "fresh"),
    [("1700000000", True), ("1700000300", True), ("1699999699", False), ("soon", False)],
)
def test_stale_timestamps_can_be_told_apart(timestamp: str, fresh: bool):
    assert timestamp_is_fresh(timestamp, now=1700000000.0) is fresh
