"""`stationbot chat`: the resident bot in a terminal, no Telegram token needed.

The same Station (and the same SQLite file) as the Telegram bot. Inline buttons are shown as
numbered choices ("1) ..."), the big topic buttons as lettered ones ("a) ..."); type the number
or letter to press one. Works with piped stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import string
import sys
import unicodedata
from typing import TextIO

from bot.config import ConfigError, check_storage_path, load_config
from bot.core import Reply, Sender, Station, startup_error_line
from bot.messages import DEFAULT_LANGUAGE, t
from bot.outbox import Button, Courier, Limit, Outgoing
from bot.storage import StorageError
from faq.loader import FaqError

CHANNEL = "console"
QUIT_WORDS = {"quit", "exit", "/quit", "/exit", "退出"}
BANNER = (
    "驿站助手 Station Helper: console chat. Type a question; /help lists commands; "
    "quit or Ctrl-D leaves."
)


class ConsoleChat:
    """One resident talking to the Station through a text stream: the console channel's
    transport too (the outbox's courier hands it the replies, which it prints)."""

    channel = CHANNEL

    def __init__(self, station: Station, sender: Sender, output: TextIO):
        self.station = station
        self.sender = sender
        self.output = output
        self.courier = Courier(station.storage, [self], digest_title=str)
        self.buttons: list[Button] = []  # inline buttons of the last reply, numbered from 1
        self.keyboard: list[str] = []  # big topic buttons, lettered from a
        self.language = DEFAULT_LANGUAGE  # of the last reply: for the console's own notes

    def limits(self, message: Outgoing) -> list[Limit]:
        return []

    async def send(self, message: Outgoing) -> int | None:
        """Prints a message with its buttons as numbered (inline) and lettered (topic) choices."""
        if message.kind == "retire":
            return None
        self.say(message.text)
        self.buttons = [button for row in message.buttons for button in row]
        for number, button in enumerate(self.buttons, start=1):
            self.say(f"  {number}) {button.label}")
        if message.keyboard:
            self.keyboard = [label for row in message.keyboard for label in row]
            choices = "   ".join(
                f"{letter}) {label}"
                for letter, label in zip(string.ascii_lowercase, self.keyboard, strict=False)
            )
            self.say(f"  [{choices}]")
        self.say("")
        return None

    async def handle(self, line: str) -> None:
        """Turns one typed line into a Station call and shows what it said."""
        reply = await self.dispatch(line)
        if reply is not None:
            self.language = reply.language
        await self.courier.drain()
        if reply is not None and reply.saved is not None:
            self.say("  " + t("console.saved", reply.language, ref=reply.saved.ref))

    async def dispatch(self, line: str) -> Reply | None:
        line = line.strip()
        if not line:
            return None
        # a Chinese input method types full-width "１" or "Ａ": read them as 1 and a
        choice = unicodedata.normalize("NFKC", line)
        if choice.isdecimal():
            index = int(choice) - 1
            if not 0 <= index < len(self.buttons):
                key = "console.no_buttons" if not self.buttons else "console.no_choice"
                self.say(t(key, self.language, choice=line))
                return None
            return await self.station.on_callback(self.sender, self.buttons[index].data)
        if len(choice) == 1 and choice.isascii() and choice.isalpha():
            letter = choice.lower()
            if letter not in string.ascii_lowercase[: len(self.keyboard)]:
                self.say(t("console.no_choice", self.language, choice=line))
                return None
            line = self.keyboard[string.ascii_lowercase.index(letter)]
        if line.startswith("/"):
            return await self.command(line)
        return await self.station.on_text(self.sender, line)

    async def command(self, line: str) -> Reply | None:
        """Runs a /command the way the Telegram bot does; unknown ones show the help."""
        name, _, rest = line[1:].partition(" ")
        station, sender = self.station, self.sender
        match name.lower():
            case "start":
                return await station.on_start(sender)
            case "language":
                return await station.on_language(sender, rest.strip())
            case "mine":
                return await station.on_mine(sender)
            case "station":
                return await station.on_home(sender)
            case "forget":
                return await station.on_forget(sender)
            case "wish":
                return await station.on_wish(sender, rest)
            case _:
                return await station.on_help(sender)

    def say(self, text: str) -> None:
        print(text, file=self.output, flush=True)


async def chat(
    station: Station, sender: Sender, lines: TextIO, output: TextIO, language: str | None
) -> None:
    """Reads lines until EOF or "quit", answering each like the Telegram bot would."""
    console = ConsoleChat(station, sender, output)
    runner = asyncio.create_task(console.courier.run())
    try:
        console.say(BANNER)
        if language:  # set it quietly: the greeting below is already in that language
            await station.on_language(sender, language)
            await console.courier.drain()
            console.buttons = []
        await console.handle("/start")
        while True:
            line = await read_line(lines, output)
            if line is None or line.strip().lower() in QUIT_WORDS:
                return
            await console.handle(line)
    finally:
        await console.courier.stop()
        runner.cancel()


async def read_line(lines: TextIO, output: TextIO) -> str | None:
    """The next line, or None at the end of input. At a terminal, input() with readline:
    arrow keys edit the line and recall earlier ones instead of typing "^[[A". It blocks on
    purpose (nothing else runs meanwhile), so Ctrl-C leaves at once instead of after Enter."""
    if lines.isatty() and lines is sys.stdin and output is sys.stdout:
        import readline  # noqa: F401  (only loaded for a person at a terminal)

        # asyncio.run's own Ctrl-C handler would only act once input() returns
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return input("> ")
        except EOFError:
            print(file=output)
            return None
        except KeyboardInterrupt:  # leave the shell prompt on a line of its own
            print(file=output)
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
    return await asyncio.to_thread(lines.readline) or None


async def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_storage_path(config)
    station = await Station.create(config)
    try:
        sender = Sender(
            user_id=args.user_id, chat_id=args.user_id, display_name="console", channel=CHANNEL
        )
        await chat(station, sender, sys.stdin, sys.stdout, args.lang)
    finally:
        await station.close()
    return 0


def main(args: argparse.Namespace) -> int:
    """Entry point of `stationbot chat`; a bad config or database is one line and exit 2."""
    try:
        return asyncio.run(run(args))
    except (ConfigError, StorageError, FaqError) as error:
        print(startup_error_line(error), file=sys.stderr)
        return 2
