"""Small text helpers shared by the resident core and the staff tools: stripping or showing
unprintable characters, and one-line shortening."""

from __future__ import annotations

import re

# Terminal escape sequences (arrow keys in a bare terminal), control characters and bidi
# overrides: noise that could also rewrite a staff member's terminal or spoof text direction.
UNPRINTABLE = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)
REPLACEMENT = "\ufffd"  # "�": shows staff that something unprintable was there


def clean_text(text: str) -> str:
    """The resident's text without escape sequences and control characters, trimmed."""
    return UNPRINTABLE.sub("", text).strip()


def one_line(text: str, limit: int | None = None) -> str:
    """`text` safe for one line of a terminal or chat: runs of whitespace become one space,
    escape sequences and control characters become "�"; cut to `limit` with "…"."""
    # rows saved before input was cleaned can still hold them
    text = UNPRINTABLE.sub(REPLACEMENT, " ".join(text.split()))
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def split_text(text: str, limit: int) -> list[str]:
    """Text in pieces of at most `limit` characters, cut at line ends where possible; never
    empty (each channel has its own limit per message)."""
    if len(text) <= limit:
        return [text or "…"]
    pieces, rest = [], text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    return [*pieces, rest] if rest else pieces
