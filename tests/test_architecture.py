"""The dependency direction of docs/architecture.md, checked on the source: faq/ imports
nothing of ours, bot/ imports no adapter and no Telegram, and nothing imports PTB's private
modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(folder: str) -> dict[str, set[str]]:
    """Module file -> the top-level names of everything it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path.name] = names
    return found


def test_faq_imports_nothing_of_ours():
    for module, names in imports("faq").items():
        assert not {n for n in names if n.split(".")[0] in ("bot", "handlers")}, module


def test_the_core_imports_no_adapter_and_no_telegram():
    for module, names in imports("bot").items():
        bad = {n for n in names if n.split(".")[0] in ("handlers", "telegram", "aiohttp")}
        assert not bad, f"bot/{module} imports {bad}"


def test_no_private_telegram_modules():
    for folder in ("bot", "handlers", "faq"):
        for module, names in imports(folder).items():
            assert not any(n.startswith("telegram._") for n in names), f"{folder}/{module}"
