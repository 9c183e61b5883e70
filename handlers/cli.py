"""The `stationbot` command: parses arguments and hands off to one command function.

Command modules are imported only when their command runs, so that `stationbot match`
starts fast and never imports Telegram.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

# exit code when stdout's reader went away: 128 + SIGPIPE, what shells report for cat or grep
# in the same pipe (so scripts with `set -o pipefail` see what they expect)
BROKEN_PIPE = 141

# command name -> "module:function"; each function takes the parsed args and returns an exit code
COMMANDS = {
    "faq check": "handlers.faq_cli:check",
    "faq list": "handlers.faq_cli:list_entries",
    "match": "handlers.match_cli:match",
    "eval": "handlers.match_cli:evaluate",
    "chat": "handlers.console:main",
    "run": "handlers.runtime:main",
    "wechat menu": "handlers.wechat:publish_menu",
    "inbox": "handlers.staff_cli:inbox",
    "reply": "handlers.staff_cli:reply",
    "resolve": "handlers.staff_cli:resolve",
    "wish_status": "handlers.staff_cli:wish_status",
    "wishes": "handlers.staff_cli:wishes",
    "stats": "handlers.staff_cli:stats",
    "export": "handlers.staff_cli:export",
    "teach": "handlers.staff_cli:teach",
    "staff add": "handlers.staff_accounts_cli:add",
    "staff remove": "handlers.staff_accounts_cli:remove",
    "staff list": "handlers.staff_accounts_cli:list_accounts",
    "web": "handlers.staff_web:main",
    "migrate": "handlers.migrate_cli:migrate",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stationbot",
        description="Station Helper (驿站助手): resident-inquiry bot for 市民驿站.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str, *, config: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=COMMANDS[name])
        if config:
            sub.add_argument(
                "--config",
                metavar="PATH",
                help="config file (default: $STATIONBOT_CONFIG, else ./config.yaml, else built-in)",
            )
        return sub

    faq = commands.add_parser("faq", help="check or list a knowledge base")
    faq_commands = faq.add_subparsers(dest="faq_command", metavar="SUBCOMMAND", required=True)
    check = faq_commands.add_parser(
        "check", help="validate FAQ files; exit 1 listing every problem"
    )
    check.add_argument("path", nargs="?", help="YAML file or folder (default: the bundled FAQ)")
    check.set_defaults(handler=COMMANDS["faq check"])
    listing = faq_commands.add_parser("list", help="list entries")
    listing.add_argument("--faq", metavar="PATH", help="YAML file or folder instead of bundled")
    listing.add_argument("--json", action="store_true", help="one JSON object per entry")
    listing.set_defaults(handler=COMMANDS["faq list"])

    match = add("match", "match questions read from stdin, one per line", config=True)
    match.add_argument("--faq", metavar="PATH", help="YAML file or folder instead of bundled")
    match.add_argument("--json", action="store_true", help="one JSON object per question")

    evaluate = add("eval", "measure the matcher on an evaluation file", config=True)
    evaluate.add_argument("file", help="YAML list of {q, expect}")
    evaluate.add_argument("--faq", metavar="PATH", help="YAML file or folder instead of bundled")
    evaluate.add_argument("--errors", action="store_true", help="list every miss")

    chat = add("chat", "talk to the bot in this terminal (no Telegram token needed)", config=True)
    chat.add_argument("--user-id", type=int, default=1, help="resident id to chat as (default 1)")
    chat.add_argument("--lang", choices=["zh", "en"], help="reply language (default: guessed)")

    run = add("run", "run the bot: Telegram, WeChat or both, as configured", config=True)
    run.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="INFO",
        help="how much to log (DEBUG includes every request; the token is always redacted)",
    )

    wechat = commands.add_parser("wechat", help="the WeChat Official Account")
    wechat_commands = wechat.add_subparsers(
        dest="wechat_command", metavar="SUBCOMMAND", required=True
    )
    menu = wechat_commands.add_parser("menu", help="publish the topic menu (/cgi-bin/menu/create)")
    menu.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $STATIONBOT_CONFIG, else ./config.yaml, else built-in)",
    )
    menu.add_argument("--print", action="store_true", help="print the menu's JSON, send nothing")
    menu.set_defaults(handler=COMMANDS["wechat menu"])

    inbox = add("inbox", "open questions and wishes, newest first", config=True)
    inbox.add_argument("--json", action="store_true", help="one JSON object per line")

    reply = add("reply", "answer a resident's question through the bot", config=True)
    reply.add_argument("ref", help="reference number, e.g. Q0012")
    reply.add_argument("text", help="the answer to send")

    resolve = add("resolve", "close an item without a reply", config=True)
    resolve.add_argument("ref")
    resolve.add_argument("note", nargs="?", default="")

    status = add("wish_status", "move a wish on and tell the resident", config=True)
    status.add_argument("ref")
    status.add_argument("status", choices=["accepted", "in_progress", "done", "declined"])
    status.add_argument("note", nargs="?", default="")

    wishes = add("wishes", "wishes, similar ones pooled", config=True)
    wishes.add_argument("status", nargs="?", help="only wishes with this status")
    wishes.add_argument("--json", action="store_true")

    stats = add("stats", "the last 7 days in figures", config=True)
    stats.add_argument("--days", type=int, default=7)
    stats.add_argument("--json", action="store_true")

    export = add("export", "export questions and wishes", config=True)
    export.add_argument("--csv", metavar="FILE", required=True, help="CSV file to write")

    teach = add("teach", "add a question's text to an FAQ entry (staff overlay)", config=True)
    teach.add_argument("ref")
    teach.add_argument("entry_id")

    for sub in (inbox, reply, resolve, status, wishes, stats, export, teach):
        sub.add_argument(
            "--station",
            metavar="ID",
            help="act as staff of this station (its items only; default: every station)",
        )

    accounts = commands.add_parser("staff", help="web console accounts: add, remove, list")
    account_commands = accounts.add_subparsers(
        dest="staff_command", metavar="SUBCOMMAND", required=True
    )
    config_help = "config file (default: $STATIONBOT_CONFIG, else ./config.yaml, else built-in)"
    for name, help_text in (
        ("add", "create an account; prints a generated password once"),
        ("remove", "delete an account and end its sessions"),
        ("list", "list the accounts"),
    ):
        sub = account_commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=COMMANDS[f"staff {name}"])
        sub.add_argument("--config", metavar="PATH", help=config_help)
        if name != "list":
            sub.add_argument("name", help="the staff member's account name")
        if name == "add":
            sub.add_argument(
                "--password-stdin",
                action="store_true",
                help="read the password from the first line of stdin instead of generating one",
            )
            sub.add_argument(
                "--station",
                metavar="ID",
                help="limit the account to this station's items (default: every station)",
            )

    web = add("web", "serve the staff web console alone (replies wait for the bot)", config=True)
    web.add_argument("--port", type=int, help="port instead of web.port from the config")
    moving = add("migrate", "move a station's data from its SQLite file to PostgreSQL")
    moving.add_argument("--from", dest="source", required=True, metavar="sqlite:PATH")
    moving.add_argument("--to", dest="target", required=True, metavar="postgresql://…")
    return parser


def fail(message: str, code: int = 1) -> int:
    """Prints `message` as one "stationbot: ..." line on stderr; returns the exit code."""
    print(f"stationbot: {message}", file=sys.stderr)
    return code


def stop_early(signum: int, frame: object) -> None:
    """SIGTERM before a command has set up its own handling (still importing): a clean stop."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():  # (tests call main in threads)
        signal.signal(signal.SIGTERM, stop_early)
    parser = build_parser()
    args = parser.parse_args(argv)
    target = getattr(args, "handler", None)
    if target is None:
        parser.print_help()
        return 0
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    try:
        code = int(function(args) or 0)
        sys.stdout.flush()  # inside the try: a reader gone by now is a broken pipe too
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader stopped early (`stationbot inbox --json | head -1`): stop quietly, as
        # the Python docs' SIGPIPE note recommends. stdout now points at devnull so that
        # the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
