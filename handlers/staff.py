"""Telegram handlers for station staff: commands and the buttons of staff notices, replies to
notices (delivered to residents) and residents' replies to staff answers (back to staff).

Every staff command and button checks the sender's numeric id; the StaffDesk (bot/staff.py)
acts and queues what is said. These handlers run in group -2, before the resident handlers:
each one takes its update off the line (ApplicationHandlerStop) once it has dealt with it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import staff
from bot.messages import t
from bot.outbox import Button, Outgoing
from bot.staff import Actor, Confirm, StaffDesk, StaffError, staff_callback
from bot.storage import StorageError
from bot.text import one_line
from handlers.context import desk_of, station_of
from handlers.resident import sender_of

log = logging.getLogger(__name__)

GROUP = -2  # before the resident handlers (0)
INBOX_PAGE_SIZE = 8
OVERLAY_CHECK_SECONDS = 30
WATCH_KEY = "staff.overlay_watch"

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def actor_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Actor:
    """The staff member behind the update, with the station they work for."""
    user = update.effective_user
    language = "en" if (user.language_code or "").startswith("en") else "zh"
    return desk_of(context).telegram_actor(user.id, user.full_name or str(user.id), language)


def here(update: Update) -> Confirm:
    return Confirm("telegram", str(update.effective_chat.id))


def in_staff_place(desk: StaffDesk, update: Update, actor: Actor) -> bool:
    """Staff data is shown only privately or in a staff group of the actor's (the
    district's, their station's), never in a resident group or another station's group."""
    chat = update.effective_chat
    return chat is not None and (
        chat.type == ChatType.PRIVATE or chat.id in desk.staff_chats(actor)
    )


def staff_only(handler: Handler) -> Handler:
    """Runs `handler` only for staff in a staff place; always stops the update there.
    A non-staff sender gets the answer any unknown command gets, under flood control.
    StaffError and storage errors become one line for the staff member."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        desk = desk_of(context)
        user = update.effective_user
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
        if not desk.is_staff("telegram", user.id if user else None):
            what = handler.__name__
            if update.callback_query is not None:  # say which button: forged data shows here
                what = f"{what} {update.callback_query.data!r}"
            await station_of(context).on_refused(sender_of(update), what)
            raise ApplicationHandlerStop
        actor = actor_of(update, context)
        if not in_staff_place(desk, update, actor):
            await desk.say(here(update), t("staffui.not_here", actor.language))
            raise ApplicationHandlerStop
        try:
            await handler(update, context)
        except (StaffError, StorageError, ValueError) as error:
            await desk.say(here(update), t("staffui.failed", actor.language, error=error))
        raise ApplicationHandlerStop

    return wrapper


def words(context: ContextTypes.DEFAULT_TYPE) -> list[str]:
    return list(context.args or [])


async def usage(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    await desk_of(context).say(here(update), t(key, actor_of(update, context).language))


# --- commands -----------------------------------------------------------------------------


@staff_only
async def reply_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reply REF text: delivers the answer to the resident."""
    parts = (update.effective_message.text or "").split(maxsplit=2)
    if len(parts) < 3:
        await usage(update, context, "staffui.usage_reply")
        return
    await desk_of(context).reply(
        parts[1], parts[2], actor=actor_of(update, context), confirm=here(update)
    )


@staff_only
async def resolve_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/resolve REF [note]: closes a question; the note, if any, goes to the resident."""
    args = words(context)
    if not args:
        await usage(update, context, "staffui.usage_resolve")
        return
    await desk_of(context).resolve(
        args[0], " ".join(args[1:]), actor=actor_of(update, context), confirm=here(update)
    )


@staff_only
async def inbox_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/inbox: open items, oldest first, one page at a time."""
    text, buttons = await inbox_page(desk_of(context), 0, actor_of(update, context))
    await desk_of(context).say(here(update), text, buttons)


async def inbox_page(desk: StaffDesk, page: int, actor: Actor) -> tuple[str, list[list[Button]]]:
    language = actor.language
    items = await desk.inbox(actor=actor)
    if not items:
        return t("staffui.inbox_empty", language), []
    pages = (len(items) + INBOX_PAGE_SIZE - 1) // INBOX_PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    shown = items[page * INBOX_PAGE_SIZE : (page + 1) * INBOX_PAGE_SIZE]
    now = datetime.now(UTC)
    lines = [
        t(
            "staffui.inbox_head",
            language,
            first=page * INBOX_PAGE_SIZE + 1,
            last=page * INBOX_PAGE_SIZE + len(shown),
            total=len(items),
        )
    ]
    for item in shown:
        lines.append(
            f"{item.ref} · {staff.age_of(item, now)} · {item.status} · {staff.name_of(item)}: "
            f"{one_line(item.text, 120)}"
        )
    row = []
    if page > 0:
        row.append(Button("◀", staff_callback("inbox", str(page - 1))))
    if page < pages - 1:
        row.append(Button("▶", staff_callback("inbox", str(page + 1))))
    return "\n".join(lines), [row] if row else []


@staff_only
async def wishes_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/wishes [status]: wishes with similar ones pooled."""
    args = words(context)
    actor = actor_of(update, context)
    language = actor.language
    pools = await desk_of(context).wishes(args[0] if args else None, actor=actor)
    if not pools:
        await desk_of(context).say(here(update), t("staffui.wishes_empty", language))
        return
    lines = [t("staffui.wishes_head", language)]
    for pool in pools:
        refs = ", ".join(pool.refs[:6]) + (" …" if pool.count > 6 else "")
        lines.append(f"· {pool.describe()} [{refs}]")
    await desk_of(context).say(here(update), "\n".join(lines))


@staff_only
async def wish_status_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/wish_status REF STATUS [note]: updates a wish and tells the resident."""
    args = words(context)
    if len(args) < 2:
        await usage(update, context, "staffui.usage_wish_status")
        return
    await desk_of(context).set_wish_status(
        args[0], args[1], " ".join(args[2:]), actor=actor_of(update, context), confirm=here(update)
    )


@staff_only
async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats [days]: the last 7 days (or DAYS) in figures."""
    args = words(context)
    if args and not args[0].isdigit():
        await usage(update, context, "staffui.usage_stats")
        return
    actor = actor_of(update, context)
    result = await desk_of(context).stats(int(args[0]) if args else 7, actor=actor)
    await desk_of(context).say(here(update), "\n".join(result.lines(actor.language)))


@staff_only
async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: every question and wish as a CSV document, sent only to the staff member who
    asked (a staff group's members need not all be staff)."""
    desk = desk_of(context)
    actor = actor_of(update, context)
    data, rows = await desk.export_csv(actor=actor)
    folder = desk.station.config.storage_path.parent
    handle, path = tempfile.mkstemp(prefix=".export-", suffix=".csv", dir=folder)
    with os.fdopen(handle, "wb") as file:  # mkstemp creates it 0600
        file.write(data)
    await desk.send(
        Outgoing(
            "telegram",
            actor.id,
            t("staffui.export_caption", actor.language, count=rows),
            kind="document",
            document=path,
            filename=f"stationbot-{datetime.now(UTC):%Y%m%d-%H%M}.csv",
        )
    )
    if update.effective_chat.type != ChatType.PRIVATE:
        await desk.say(here(update), t("staffui.export_private", actor.language))


@staff_only
async def teach_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/teach REF ENTRY_ID: adds the question to the entry; /teach REF offers the guesses."""
    args = words(context)
    if len(args) == 1:
        await offer_teach(update, context, args[0])
    elif len(args) == 2:
        await teach(update, context, args[0], args[1])
    else:
        await usage(update, context, "staffui.usage_teach")


async def offer_teach(update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str) -> None:
    desk = desk_of(context)
    actor = actor_of(update, context)
    language = actor.language
    item = await desk.item(ref, actor=actor)
    if not item.candidates:
        await desk.say(here(update), t("staffui.teach_none", language, ref=item.ref))
        return
    rows = [
        [
            Button(
                staff.clip(
                    f"{entry_id} ({score:.0f}) {staff.entry_title(desk.station, entry_id)}", 60
                ),
                staff_callback("tt", item.ref, str(index)),
            )
        ]
        for index, (entry_id, score) in enumerate(item.candidates[:3])
    ]
    text = t("staffui.teach_pick", language, ref=item.ref, text=staff.clip(item.text, 300))
    await desk.say(here(update), text, rows)


async def teach(
    update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str, entry_id: str
) -> None:
    await desk_of(context).teach(
        ref, entry_id, actor=actor_of(update, context), confirm=here(update)
    )
    overlay_watch(context).changed()  # this change is loaded already


@staff_only
async def reload_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reload: reloads the FAQ after a hand edit; a broken file is refused."""
    kb = await desk_of(context).reload()
    language = actor_of(update, context).language
    await desk_of(context).say(
        here(update), t("staffui.reloaded", language, entries=len(kb.entries))
    )


# --- buttons ------------------------------------------------------------------------------


async def staff_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Routes "st:" buttons: 👍 from residents, everything else staff-only."""
    query = update.callback_query
    parts = (query.data or "").split(":")
    if parts[1:2] == ["thx"]:
        with contextlib.suppress(TelegramError):
            await query.answer()
        if len(parts) == 3:
            await station_of(context).on_thanks(sender_of(update), parts[2])
        raise ApplicationHandlerStop
    await staff_action_button(update, context)


@staff_only
async def staff_action_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply / Resolve / Teach / wish status / inbox paging, pressed by staff."""
    query = update.callback_query
    _, action, *args = (query.data or "").split(":")
    desk = desk_of(context)
    actor = actor_of(update, context)
    if action == "r" and len(args) == 1:
        item = await desk.item(args[0], actor=actor)
        await desk.send(
            Outgoing(
                "telegram",
                str(update.effective_chat.id),
                t("staffui.reply_prompt", actor.language, ref=item.ref),
                force_reply=True,
                ref=item.ref,
            )
        )
    elif action == "x" and len(args) == 1:
        await desk.resolve(args[0], actor=actor, confirm=here(update))
    elif action == "t" and len(args) == 1:
        await offer_teach(update, context, args[0])
    elif action == "tt" and len(args) == 2 and args[1].isdigit():
        item = await desk.item(args[0], actor=actor)
        index = int(args[1])
        if index >= len(item.candidates):
            raise StaffError(f"{item.ref} has no guess number {index + 1}")
        await teach(update, context, item.ref, item.candidates[index][0])
    elif action == "w" and len(args) == 2:
        await desk.set_wish_status(args[0], args[1], actor=actor, confirm=here(update))
    elif action == "inbox" and len(args) == 1 and args[0].isdigit():
        text, buttons = await inbox_page(desk, int(args[0]), actor)
        await desk.say(here(update), text, buttons)
    else:
        log.warning("staff %s pressed unknown button %r", actor.id, query.data)


# --- Telegram replies: staff answering a notice, residents answering staff ------------------


async def reply_to_linked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text replying to a message linked to an item: staff answering a notice (delivered
    to the resident), or the resident following up on a staff reply (back to staff under the
    same reference, through the same flood control and cleaning as any message). Any other
    reply goes on to the resident handlers."""
    message = update.effective_message
    desk = desk_of(context)
    ref = await desk.storage.ref_for_staff_message(
        message.chat_id, message.reply_to_message.message_id
    )
    if ref is None:
        return
    user_id = update.effective_user.id
    if desk.is_staff("telegram", user_id) and in_staff_place(
        desk, update, actor_of(update, context)
    ):
        await staff_reply(update, context, ref)
    else:
        await station_of(context).on_follow_up(sender_of(update), ref, message.text or "")
    raise ApplicationHandlerStop


async def staff_reply(update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str) -> None:
    desk = desk_of(context)
    actor = actor_of(update, context)
    try:
        await desk.reply(
            ref, update.effective_message.text or "", actor=actor, confirm=here(update)
        )
    except (StaffError, StorageError, ValueError) as error:
        await desk.say(here(update), t("staffui.failed", actor.language, error=error))


# --- overlay taught from the command line -------------------------------------------------


def overlay_watch(context: ContextTypes.DEFAULT_TYPE) -> staff.FileWatch:
    """The watch on the staff overlay, started the first time it is asked for."""
    data = context.application.bot_data
    if WATCH_KEY not in data:
        data[WATCH_KEY] = staff.FileWatch(station_of(context).config.overlay_path)
    return data[WATCH_KEY]


async def reload_if_overlay_changed(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Picks up phrasings taught with `stationbot teach` or the web console meanwhile."""
    if not overlay_watch(context).changed():
        return
    try:
        kb = await desk_of(context).reload()
    except StaffError as error:
        log.error("staff overlay changed but was not loaded: %s", error)
        return
    log.info("staff overlay changed: reloaded %d entries", len(kb.entries))


# --- wiring -------------------------------------------------------------------------------

COMMANDS: list[tuple[str, Handler]] = [
    ("reply", reply_command),
    ("inbox", inbox_command),
    ("resolve", resolve_command),
    ("wishes", wishes_command),
    ("wish_status", wish_status_command),
    ("stats", stats_command),
    ("export", export_command),
    ("teach", teach_command),
    ("reload", reload_command),
]


def register(application: Application) -> None:
    """Adds the staff handlers (group -2) and the overlay watch."""
    new = filters.UpdateType.MESSAGE
    for name, handler in COMMANDS:
        application.add_handler(CommandHandler(name, handler, filters=new), group=GROUP)
    application.add_handler(
        MessageHandler(new & filters.REPLY & filters.TEXT & ~filters.COMMAND, reply_to_linked),
        group=GROUP,
    )
    application.add_handler(
        CallbackQueryHandler(staff_button, pattern=rf"^{staff.STAFF_PREFIX}:"), group=GROUP
    )
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            # the first run, a second after start-up, only takes the file's fingerprint
            reload_if_overlay_changed,
            OVERLAY_CHECK_SECONDS,
            first=1,
        )
