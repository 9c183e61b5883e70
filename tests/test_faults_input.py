"""Bad input: whatever a resident types or a client sends as button data, the core answers
without an exception, within Telegram's limits, and resident text never becomes formatting
in what staff see. Also the broken files a station may hand the bot."""

from __future__ import annotations

import asyncio
import html
import logging
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from fake_telegram import TOKEN, running_bot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import staff
from bot.config import Config
from bot.core import CALLBACK_VERSION, MAX_CALLBACK_BYTES, Reply, Sender, Station
from bot.storage import Item
from handlers import staff as staff_handlers

MAX_MESSAGE_CHARS = 4096  # Telegram refuses longer messages: the resident would get nothing
# Text that has broken bots: controls, zero-width and direction marks, right-to-left scripts,
# markup of both parse modes, look-alike references, Telegram's own command syntax.
NASTY = [
    "\x00", "\x1b[31m", "\r\n", "\t", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
    "\u202e", "\u200f", "\u061c", "مرحبا", "שלום", "<b>", "</blockquote>", "<a href='x'>",
    "&amp;", "&#x27;", "*bold*", "_it_", "`code`", "```", "[x](http://e.vil)", "||spoiler||",
    "@station_helper_bot", "/start", "Q0001", "Ｑ１", "W-0002", "食堂", "几点", "伐", "👍🏻",
    "\U0001f9d1\u200d\U0001f9af", "🇨🇳", "ｄｏｎａｔｅ", "%s %d {0} {ref}", "\\", "'\"; DROP TABLE",
]  # fmt: skip
TEXT = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(NASTY)), max_size=12).map("".join)
LONG_TEXT = st.builds(lambda unit, n: unit * n, st.sampled_from(NASTY), st.integers(1, 9000))
ACTIONS = ["ans", "sug", "none", "fb", "staff", "lang", "forget", "wish", "", "st", "thx"]
CALLBACK = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(st.sampled_from(ACTIONS), TEXT), max_size=5).map(
        lambda parts: ":".join([CALLBACK_VERSION, *parts])
    ),
)
SENDER = st.builds(
    Sender,
    user_id=st.integers(1, 2**52),
    chat_id=st.integers(-(2**52), 2**52),
    private=st.booleans(),
    language_code=st.one_of(st.none(), st.sampled_from(["zh-hans", "en", "ar", "", "x" * 40])),
    display_name=st.one_of(st.none(), TEXT),
)
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.Runner, Station]]:
    """One Station on its own event loop for every example (flood control out of the way)."""
    folder = tmp_path_factory.mktemp("input")
    config = Config(
        storage_path=folder / "station.db", flood_max_messages=10**9, staff_chat_id=-100
    )
    with asyncio.Runner() as runner:
        station = runner.run(Station.create(config))
        yield runner, station
        runner.run(station.close())


def check(reply: Reply | None) -> None:
    """What any reply must be: something Telegram will take."""
    assert reply is not None, "flood control is off: every message gets a reply"
    assert isinstance(reply.text, str) and reply.text.strip()
    assert len(reply.text) <= MAX_MESSAGE_CHARS
    assert not (reply.buttons and reply.keyboard)
    for row in reply.buttons:
        for button in row:
            assert button.label.strip()
            assert len(button.data.encode()) <= MAX_CALLBACK_BYTES


@EXAMPLES
@given(sender=SENDER, text=TEXT)
def test_any_text_gets_a_sendable_reply(core, sender: Sender, text: str):
    runner, station = core
    check(runner.run(station.on_text(sender, text)))


@EXAMPLES
@given(sender=SENDER, text=LONG_TEXT)
def test_very_long_messages_get_a_sendable_reply(core, sender: Sender, text: str):
    runner, station = core
    check(runner.run(station.on_text(sender, text)))


@EXAMPLES
@given(sender=SENDER, data=CALLBACK)
def test_any_button_data_gets_a_harmless_reply(core, sender: Sender, data: str):
    runner, station = core
    check(runner.run(station.on_callback(sender, data)))


@EXAMPLES
@given(sender=SENDER, argument=st.one_of(st.just(""), TEXT, LONG_TEXT))
def test_commands_with_missing_or_junk_arguments(core, sender: Sender, argument: str):
    runner, station = core
    check(runner.run(station.on_wish(sender, argument)))
    check(runner.run(station.on_language(sender, argument or None)))
    for command in (station.on_start, station.on_help, station.on_mine, station.on_forget):
        check(runner.run(command(sender)))


@EXAMPLES
@given(
    sender=SENDER,
    latitude=st.floats(allow_nan=True, allow_infinity=True),
    longitude=st.floats(allow_nan=True, allow_infinity=True),
)
def test_any_location_gets_a_sendable_reply(core, sender: Sender, latitude, longitude):
    runner, station = core
    check(runner.run(station.on_location(sender, latitude, longitude)))


class Tags(HTMLParser):
    """The tags of an HTML text, and the text inside <blockquote>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.quoted: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self._depth += tag == "blockquote"

    def handle_endtag(self, tag: str) -> None:
        self._depth -= tag == "blockquote"

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.quoted.append(data)


@EXAMPLES
@given(text=TEXT, name=st.one_of(st.none(), TEXT), follow_up=st.one_of(st.none(), TEXT))
def test_resident_text_is_never_formatting_for_staff(core, text, name, follow_up):
    _, station = core
    item = Item(
        ref="Q0012",
        kind="question",
        text=text,
        status="open",
        user_id=7,
        chat_id=7,
        created_at="2026-11-28T23:50:01Z",
        candidates=[("canteen.hours", 80.0)],
        display_name=name,
    )
    [message] = staff.notices(station, item, follow_up)
    notice = message.text
    parsed = Tags()
    parsed.feed(notice)
    parsed.close()
    assert set(parsed.tags) <= {"b", "blockquote"}
    assert parsed.tags.count("b") == 1 and parsed.tags.count("blockquote") == 1
    quoted = text if follow_up is None else follow_up
    assert "".join(parsed.quoted) == staff.clip(quoted, staff.QUOTE_LIMIT)
    if name:
        assert html.escape(name) in notice


async def test_markup_from_a_resident_is_sent_back_as_plain_text(tmp_path: Path):
    async with running_bot(tmp_path) as (fake, _):
        for text in ("<b>食堂</b> 几点开门", "*wish* [x](http://e.vil) `code`", "<i>长椅</i>"):
            [reply] = await fake.replies(fake.message(text))
            assert "parse_mode" not in reply.params, "resident replies are never parsed"


# --- broken files at start-up and while running ------------------------------------------


def run_bot(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=config.parent,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )


BROKEN_SETUPS = {
    # name: (config file text, files to write first, words the one line must contain)
    "config not found": (None, {}, "config file not found"),
    "config not UTF-8": (b"telegram:\n  token: \xff\xfe\n", {}, "not UTF-8"),
    "bad boolean": ("telegram:\n  rate_limiter: 'no'\n", {}, "true or false"),
    "faq file missing": ("faq:\n  path: nowhere.yaml\n", {}, "nowhere.yaml"),
    "faq not YAML": ("faq:\n  path: faq.yaml\n", {"faq.yaml": "entries: [\n"}, "faq.yaml"),
    "broken overlay": (
        "faq:\n  overlay: overlay.yaml\n",
        {"overlay.yaml": "teach:\n  no.such.entry: {zh: [随便]}\n"},
        "no.such.entry",
    ),
    "not a database": ("", {"station.db": "this is not SQLite " * 100}, "station.db"),
}


@pytest.mark.parametrize(
    ("config_text", "files", "words"), BROKEN_SETUPS.values(), ids=list(BROKEN_SETUPS)
)
def test_broken_setup_stops_the_bot_with_one_line_and_exit_code_2(
    tmp_path: Path, config_text: str | bytes | None, files: dict[str, str], words: str
):
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    config = tmp_path / "config.yaml"
    if isinstance(config_text, bytes):
        config.write_bytes(config_text)
    elif config_text is not None:
        head = f'telegram:\n  token: "{TOKEN}"\nstorage:\n  path: station.db\n'
        if config_text.startswith("telegram:"):
            head = head.replace("telegram:\n", config_text, 1)
            config_text = ""
        config.write_text(head + config_text, encoding="utf-8")
    finished = run_bot(config)
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.count("\n") == 1, finished.stderr
    assert finished.stderr.startswith("stationbot: ") and words in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout


async def test_broken_overlay_found_by_the_watch_keeps_the_last_good_faq(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    config = Config(storage_path=tmp_path / "station.db")
    station = await Station.create(config)
    try:
        bot_data = {"station": station, "desk": staff.StaffDesk(station)}
        context = SimpleNamespace(application=SimpleNamespace(bot_data=bot_data))
        await staff_handlers.reload_if_overlay_changed(context)  # takes the fingerprint
        kb = station.kb
        config.overlay_path.write_text("teach:\n  no.such.entry: {zh: [随便]}\n", "utf-8")
        with caplog.at_level(logging.ERROR):
            await staff_handlers.reload_if_overlay_changed(context)
        assert station.kb is kb
        assert "no.such.entry" in caplog.text and "not loaded" in caplog.text
    finally:
        await station.close()
