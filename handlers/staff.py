"""Telegram handlers for station staff: notifications with Reply / Resolve / Teach buttons,
replies to residents (and their follow-ups back), inbox, wishes, stats, export, teach, reload.

Every staff command and button checks the sender's numeric id (bot/staff.py decides; these
functions parse and render). Staff handlers run in group -2, before the resident handlers:
each one takes its update off the line (ApplicationHandlerStop) once it has dealt with it.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import Forbidden, TelegramError
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
from bot.staff import Delivery, Sender, StaffError
from bot.storage import StorageError, parse_time
from bot.text import one_line
from handlers.context import STATION_KEY, station_of

if TYPE_CHECKING:
    from bot.core import Station

log = logging.getLogger(__name__)

GROUP = -2  # before the resident handlers (0)
PREFIX = "st"  # callback data "st:<action>:<ref>[:<arg>]"
OVERLAY_CHECK_SECONDS = 30
WATCH_KEY = "staff.overlay_watch"
MAX_TEXT = 4000  # Telegram allows 4096 characters per message
QUOTE_LIMIT = 1500

# Staff-facing lines (bilingual, short); resident-facing texts come from bot.messages.
TEXT = {
    "question": "🆕 问题 Question {ref}",
    "wish": "🌟 心愿 Wish {ref}",
    "follow_up": "↩️ 追问 Follow-up {ref}",
    "from": "来自 From: {name}",
    "at": "时间 Time: {time}",
    "asked": "原问题 Original: {text}",
    "guesses": "可能是 Best guesses:",
    "reply": "✍️ 回复 Reply",
    "resolve": "✅ 已解决 Resolve",
    "teach": "📚 教给FAQ Teach",
    "accept": "👍 受理 Accept",
    "decline": "🙏 婉拒 Decline",
    "reply_prompt": (
        "✍️ 请回复这条消息，写给居民的答复（{ref}）。\n"
        "Reply to this message with the answer for {ref}."
    ),
    "sent": "✅ 已发送 Sent to {name} ({ref}).",
    "resolved": "✅ {ref} 已解决 resolved.",
    "wish_set": "✅ {ref} → {status}; 已通知居民 resident told.",
    "teach_pick": "📚 {ref}「{text}」\n教给哪个条目？ Teach it to which entry?",
    "teach_none": "没有候选条目，请用 /teach {ref} ENTRY_ID。No guesses: /teach {ref} ENTRY_ID.",
    "taught": "📚 已加入 Added to {entry}: “{text}”.",
    "taught_already": "📚 已经有了 Already taught to {entry}: “{text}”.",
    "now_answered": "✅ 现在能直接回答 Now answered ({score:.0f}).",
    "not_yet_answered": "⚠️ 匹配结果仍是 Matcher still says {outcome} ({score:.0f}).",
    "reloaded": "🔄 已重新加载 Reloaded: {entries} entries.",
    "inbox_empty": "📭 没有待处理的事项 Inbox empty.",
    "inbox_head": "📥 待处理 Open items {first}–{last} / {total} (oldest first):",
    "wishes_empty": "没有心愿 No wishes.",
    "wishes_head": "🌟 心愿（相似的合并）Wishes, similar ones pooled:",
    "usage_reply": "用法 Usage: /reply REF text",
    "usage_resolve": "用法 Usage: /resolve REF [note]",
    "usage_wish_status": "用法 Usage: /wish_status REF accepted|in_progress|done|declined [note]",
    "usage_teach": "用法 Usage: /teach REF ENTRY_ID",
    "usage_stats": "用法 Usage: /stats [days]",
    "not_here": "请在员工群或私聊中使用。Use staff commands in the staff group or privately.",
    "blocked": "⚠️ 无法送达 Could not deliver: the resident has blocked the bot or left ({ref}).",
    "failed": "⚠️ {error}",
    "export_caption": "导出 Export: {count} rows",
}
STATUS_LABELS = {
    "accepted": "受理 accepted",
    "in_progress": "办理中 in progress",
    "done": "已实现 done",
    "declined": "婉拒 declined",
}

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def callback(action: str, *args: str) -> str:
    return ":".join((PREFIX, action, *args))


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def local_time(station: Station, created_at: str) -> str:
    moment = parse_time(created_at).astimezone(ZoneInfo(station.config.timezone))
    return f"{moment:%Y-%m-%d %H:%M}"


def name_of(item: Any) -> str:
    return item.display_name or "居民 resident"


# --- talking to residents ------------------------------------------------------------------


def resident_sender(bot: Bot) -> Sender:
    """Sends a Delivery to a resident as plain text (no parse mode: nothing to inject),
    with a 👍 button under staff replies; returns the message id."""

    async def send(delivery: Delivery) -> int:
        markup = None
        if delivery.thanks_button:
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            delivery.thanks_button, callback_data=callback("thx", delivery.ref)
                        )
                    ]
                ]
            )
        message = await bot.send_message(delivery.chat_id, clip(delivery.text), reply_markup=markup)
        return message.message_id

    return send


# --- notifications ------------------------------------------------------------------------


def notification_text(station: Station, item: Any, follow_up: str | None = None) -> str:
    """HTML for staff: every piece of resident text is escaped."""
    head = "follow_up" if follow_up is not None else item.kind
    lines = [
        f"<b>{html.escape(TEXT[head].format(ref=item.ref))}</b>",
        html.escape(TEXT["from"].format(name=name_of(item))),
        html.escape(TEXT["at"].format(time=local_time(station, item.created_at))),
    ]
    if follow_up is not None:
        lines.append(html.escape(TEXT["asked"].format(text=clip(item.text, QUOTE_LIMIT))))
        lines.append(f"<blockquote>{html.escape(clip(follow_up, QUOTE_LIMIT))}</blockquote>")
    else:
        lines.append(f"<blockquote>{html.escape(clip(item.text, QUOTE_LIMIT))}</blockquote>")
    guesses = [
        f"· {html.escape(entry_id)} ({score:.0f}) {html.escape(entry_title(station, entry_id))}"
        for entry_id, score in item.candidates[:3]
    ]
    if guesses:
        lines += [html.escape(TEXT["guesses"]), *guesses]
    return "\n".join(lines)


def entry_title(station: Station, entry_id: str) -> str:
    entry = station.kb.get(entry_id)
    return entry.first_question("zh") if entry is not None else ""


def notification_buttons(item: Any) -> InlineKeyboardMarkup:
    if item.kind == "wish":
        row = [
            InlineKeyboardButton(TEXT["reply"], callback_data=callback("r", item.ref)),
            InlineKeyboardButton(TEXT["accept"], callback_data=callback("w", item.ref, "accepted")),
            InlineKeyboardButton(
                TEXT["decline"], callback_data=callback("w", item.ref, "declined")
            ),
        ]
    else:
        row = [
            InlineKeyboardButton(TEXT["reply"], callback_data=callback("r", item.ref)),
            InlineKeyboardButton(TEXT["resolve"], callback_data=callback("x", item.ref)),
            InlineKeyboardButton(TEXT["teach"], callback_data=callback("t", item.ref)),
        ]
    return InlineKeyboardMarkup([row])


def staff_targets(station: Station) -> list[int]:
    """The staff group if there is one, else every staff member privately."""
    config = station.config
    if config.staff_chat_id is not None:
        return [config.staff_chat_id]
    return sorted(config.staff_user_ids)


async def notify_staff(
    bot: Bot, station: Station, item: Any, *, follow_up: str | None = None
) -> None:
    """Posts a newly saved question or wish (or a resident's follow-up) to staff.

    A staff member who never opened a chat with the bot must not stop the others from
    being told, so each failure is logged and the rest still get it.
    """
    text = notification_text(station, item, follow_up)
    for chat_id in staff_targets(station):
        try:
            message = await bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=notification_buttons(item)
            )
            await station.storage.link_staff_message(item.ref, chat_id, message.message_id)
        except (TelegramError, StorageError) as error:
            log.warning("could not notify staff chat %s about %s: %s", chat_id, item.ref, error)


# --- the staff gate -----------------------------------------------------------------------


def in_staff_place(station: Station, update: Update) -> bool:
    """Staff data is shown only privately or in the staff group, never in a resident group."""
    chat = update.effective_chat
    return chat is not None and (
        chat.type == ChatType.PRIVATE or chat.id == station.config.staff_chat_id
    )


async def refuse(update: Update, context: ContextTypes.DEFAULT_TYPE, what: str) -> None:
    """Answers a non-staff sender neutrally and logs the attempt."""
    user = update.effective_user
    if update.callback_query is not None:  # say which button: forged data shows here
        what = f"{what} {update.callback_query.data!r}"
    log.warning(
        "non-staff user %s tried staff action %s in chat %s",
        user.id if user else None,
        what,
        update.effective_chat.id if update.effective_chat else None,
    )
    language = "en" if user and (user.language_code or "").startswith("en") else "zh"
    text = t("staff.not_allowed", language)
    if update.callback_query is not None:
        await update.callback_query.answer(text)
    elif update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, text)


def staff_only(handler: Handler) -> Handler:
    """Runs `handler` only for staff in a staff place; always stops the update there.
    StaffError and storage errors become one line for the staff member."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        station = station_of(context)
        user = update.effective_user
        if not staff.is_staff(station.config, user.id if user else None):
            await refuse(update, context, handler.__name__)
            raise ApplicationHandlerStop
        if update.callback_query is not None:
            await update.callback_query.answer()
        if not in_staff_place(station, update):
            await say(update, context, TEXT["not_here"])
            raise ApplicationHandlerStop
        try:
            await handler(update, context)
        except (StaffError, StorageError, ValueError) as error:
            await say(update, context, TEXT["failed"].format(error=error))
        except TelegramError as error:
            log.warning("staff action %s failed: %s", handler.__name__, error)
            await say(update, context, TEXT["failed"].format(error=f"Telegram: {error}"))
        raise ApplicationHandlerStop

    return wrapper


async def say(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, **options) -> None:
    """Plain text back to where the staff member is (no parse mode unless given)."""
    await context.bot.send_message(update.effective_chat.id, clip(text), **options)


def words(context: ContextTypes.DEFAULT_TYPE) -> list[str]:
    return list(context.args or [])


# --- commands -----------------------------------------------------------------------------


@staff_only
async def reply_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reply REF text: delivers the answer to the resident."""
    text = update.effective_message.text or ""
    parts = text.split(maxsplit=2)
    if len(parts) < 3:
        await say(update, context, TEXT["usage_reply"])
        return
    await deliver_reply(update, context, parts[1], parts[2])


async def deliver_reply(
    update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str, text: str
) -> None:
    station = station_of(context)
    try:
        item = await staff.reply(
            station.storage,
            ref,
            text,
            staff_id=update.effective_user.id,
            send=resident_sender(context.bot),
        )
    except Forbidden:
        await say(update, context, TEXT["blocked"].format(ref=staff.parse_ref(ref)))
        return
    await say(update, context, TEXT["sent"].format(name=name_of(item), ref=item.ref))


@staff_only
async def resolve_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/resolve REF [note]: closes a question without a reply."""
    args = words(context)
    if not args:
        await say(update, context, TEXT["usage_resolve"])
        return
    item = await staff.resolve(
        station_of(context).storage,
        args[0],
        " ".join(args[1:]),
        staff_id=update.effective_user.id,
    )
    await say(update, context, TEXT["resolved"].format(ref=item.ref))


@staff_only
async def inbox_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/inbox: open items, oldest first, one page at a time."""
    text, markup = await inbox_page(station_of(context), 0)
    await say(update, context, text, reply_markup=markup)


async def inbox_page(station: Station, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    items = await staff.inbox(station.storage, oldest_first=True)
    if not items:
        return TEXT["inbox_empty"], None
    size = staff.INBOX_PAGE_SIZE
    pages = (len(items) + size - 1) // size
    page = min(max(page, 0), pages - 1)
    shown = items[page * size : (page + 1) * size]
    now = datetime.now(UTC)
    lines = [
        TEXT["inbox_head"].format(
            first=page * size + 1, last=page * size + len(shown), total=len(items)
        )
    ]
    for item in shown:
        lines.append(
            f"{item.ref} · {staff.age_of(item, now)} · {item.status} · {name_of(item)}: "
            f"{one_line(item.text, 120)}"
        )
    buttons = []
    if page > 0:
        buttons.append(InlineKeyboardButton("◀", callback_data=callback("inbox", str(page - 1))))
    if page < pages - 1:
        buttons.append(InlineKeyboardButton("▶", callback_data=callback("inbox", str(page + 1))))
    return "\n".join(lines), InlineKeyboardMarkup([buttons]) if buttons else None


@staff_only
async def wishes_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/wishes [status]: wishes with similar ones pooled."""
    args = words(context)
    pools = await staff.wishes(station_of(context).storage, args[0] if args else None)
    if not pools:
        await say(update, context, TEXT["wishes_empty"])
        return
    lines = [TEXT["wishes_head"]]
    for pool in pools:
        refs = ", ".join(pool.refs[:6]) + (" …" if pool.count > 6 else "")
        lines.append(f"· {pool.describe()} [{refs}]")
    await say(update, context, "\n".join(lines))


@staff_only
async def wish_status_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/wish_status REF STATUS [note]: updates a wish and tells the resident."""
    args = words(context)
    if len(args) < 2:
        await say(update, context, TEXT["usage_wish_status"])
        return
    await change_wish(update, context, args[0], args[1], " ".join(args[2:]))


async def change_wish(
    update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str, status: str, note: str = ""
) -> None:
    item = await staff.set_wish_status(
        station_of(context).storage,
        ref,
        status,
        note,
        staff_id=update.effective_user.id,
        send=resident_sender(context.bot),
    )
    label = STATUS_LABELS.get(item.status, item.status)
    await say(update, context, TEXT["wish_set"].format(ref=item.ref, status=label))


@staff_only
async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats [days]: the last 7 days (or DAYS) in figures."""
    args = words(context)
    if args and not args[0].isdigit():
        await say(update, context, TEXT["usage_stats"])
        return
    days = int(args[0]) if args else 7
    result = await staff.stats(station_of(context).storage, days=days)
    await say(update, context, "\n".join(result.lines()))


@staff_only
async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: every question and wish as a CSV document (UTF-8 with BOM, for Excel)."""
    data, rows = await staff.export(station_of(context).storage)
    name = f"stationbot-{datetime.now(UTC):%Y%m%d-%H%M}.csv"
    await context.bot.send_document(
        update.effective_chat.id,
        InputFile(data, filename=name),
        caption=TEXT["export_caption"].format(count=rows),
    )


@staff_only
async def teach_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/teach REF ENTRY_ID: adds the question to the entry; /teach REF offers the guesses."""
    args = words(context)
    if len(args) == 1:
        await offer_teach(update, context, args[0])
    elif len(args) == 2:
        await teach_and_reload(update, context, args[0], args[1])
    else:
        await say(update, context, TEXT["usage_teach"])


async def offer_teach(update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str) -> None:
    station = station_of(context)
    item = await staff.get_item(station.storage, ref)
    if not item.candidates:
        await say(update, context, TEXT["teach_none"].format(ref=item.ref))
        return
    rows = [
        [
            InlineKeyboardButton(
                clip(f"{entry_id} ({score:.0f}) {entry_title(station, entry_id)}", 60),
                callback_data=callback("tt", item.ref, str(index)),
            )
        ]
        for index, (entry_id, score) in enumerate(item.candidates[:3])
    ]
    await say(
        update,
        context,
        TEXT["teach_pick"].format(ref=item.ref, text=clip(item.text, 300)),
        reply_markup=InlineKeyboardMarkup(rows),
    )


async def teach_and_reload(
    update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str, entry_id: str
) -> None:
    station = station_of(context)
    config = station.config
    result = await staff.teach(
        station.storage,
        ref,
        entry_id,
        kb=station.kb,
        overlay_path=config.overlay_path,
        faq_path=config.faq_path,
    )
    lines = [TEXT["taught" if result.added else "taught_already"].format(
        entry=result.entry_id, text=result.text
    )]  # fmt: skip
    await asyncio.to_thread(staff.reload_knowledge, station)
    overlay_watch(context).changed()  # this change is loaded already
    outcome = station.matcher.match(result.text)
    if outcome.outcome == "answer" and outcome.id == result.entry_id:
        lines.append(TEXT["now_answered"].format(score=outcome.score))
    else:
        lines.append(TEXT["not_yet_answered"].format(outcome=outcome.outcome, score=outcome.score))
    await say(update, context, "\n".join(lines))


@staff_only
async def reload_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reload: reloads the FAQ after a hand edit; a broken file is refused."""
    kb = await asyncio.to_thread(staff.reload_knowledge, station_of(context))
    await say(update, context, TEXT["reloaded"].format(entries=len(kb.entries)))


# --- buttons ------------------------------------------------------------------------------


async def staff_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Routes "st:" buttons: 👍 from residents, everything else staff-only."""
    query = update.callback_query
    action = (query.data or "").split(":")[1:2]
    if action == ["thx"]:
        await thanks_button(update, context)
    else:
        await staff_action_button(update, context)


async def thanks_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident's 👍 under a staff reply: closes their question (only their own)."""
    query = update.callback_query
    parts = (query.data or "").split(":")
    station = station_of(context)
    item = None
    if len(parts) == 3:
        item = await staff.thank(station.storage, parts[2], update.effective_user.id)
    if item is None:
        log.warning("user %s pressed 👍 on %r: not theirs", update.effective_user.id, query.data)
        await query.answer()
        raise ApplicationHandlerStop
    language = await staff.resident_language(station.storage, item)
    await query.answer(t("staff.thanks_ack", language))
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError as error:  # too old to edit, or already removed
        log.debug("could not remove the 👍 button: %s", error)
    raise ApplicationHandlerStop


@staff_only
async def staff_action_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply / Resolve / Teach / wish status / inbox paging, pressed by staff."""
    query = update.callback_query
    _, action, *args = (query.data or "").split(":")
    station = station_of(context)
    if action == "r" and len(args) == 1:
        item = await staff.get_item(station.storage, args[0])
        prompt = await context.bot.send_message(
            update.effective_chat.id,
            TEXT["reply_prompt"].format(ref=item.ref),
            reply_markup=ForceReply(),
        )
        await station.storage.link_staff_message(
            item.ref, update.effective_chat.id, prompt.message_id
        )
    elif action == "x" and len(args) == 1:
        item = await staff.resolve(station.storage, args[0], staff_id=update.effective_user.id)
        await say(update, context, TEXT["resolved"].format(ref=item.ref))
    elif action == "t" and len(args) == 1:
        await offer_teach(update, context, args[0])
    elif action == "tt" and len(args) == 2 and args[1].isdigit():
        item = await staff.get_item(station.storage, args[0])
        index = int(args[1])
        if index >= len(item.candidates):
            raise StaffError(f"{item.ref} has no guess number {index + 1}")
        await teach_and_reload(update, context, item.ref, item.candidates[index][0])
    elif action == "w" and len(args) == 2:
        await change_wish(update, context, args[0], args[1])
    elif action == "inbox" and len(args) == 1 and args[0].isdigit():
        text, markup = await inbox_page(station, int(args[0]))
        await query.edit_message_text(clip(text), reply_markup=markup)
    else:
        log.warning("staff %s pressed unknown button %r", update.effective_user.id, query.data)


# --- Telegram replies: staff answering a notification, residents answering staff ----------


async def reply_to_linked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text replying to a message linked to an item: staff answering a notification
    (delivered to the resident), or the resident following up on a staff reply (back to
    staff under the same reference). Any other reply goes on to the resident handlers."""
    message = update.effective_message
    station = station_of(context)
    ref = await station.storage.ref_for_staff_message(
        message.chat_id, message.reply_to_message.message_id
    )
    if ref is None:
        return
    item = await station.storage.get_item(ref)
    user_id = update.effective_user.id
    if item is not None and item.user_id == user_id:
        await resident_follow_up(update, context, item)
    elif staff.is_staff(station.config, user_id):
        await staff_reply_by_telegram_reply(update, context)
    else:
        log.warning("user %s replied to staff message about %s", user_id, ref)
        return
    raise ApplicationHandlerStop


async def resident_follow_up(update: Update, context: ContextTypes.DEFAULT_TYPE, item: Any) -> None:
    station = station_of(context)
    text = update.effective_message.text or ""
    updated = await staff.follow_up(station.storage, item.ref, update.effective_user.id, text)
    if updated is None:
        return
    language = await staff.resident_language(station.storage, updated)
    await context.bot.send_message(
        update.effective_chat.id, t("staff.follow_up_saved", language, ref=item.ref)
    )
    await notify_staff(context.bot, station, updated, follow_up=text)


@staff_only
async def staff_reply_by_telegram_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    ref = await station_of(context).storage.ref_for_staff_message(
        message.chat_id, message.reply_to_message.message_id
    )
    await deliver_reply(update, context, ref, message.text or "")


# --- overlay taught from the command line -------------------------------------------------


def overlay_watch(context: ContextTypes.DEFAULT_TYPE) -> staff.FileWatch:
    """The watch on the staff overlay, started the first time it is asked for."""
    data = context.application.bot_data
    if WATCH_KEY not in data:
        data[WATCH_KEY] = staff.FileWatch(station_of(context).config.overlay_path)
    return data[WATCH_KEY]


async def reload_if_overlay_changed(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Picks up phrasings taught with `stationbot teach` while the bot runs."""
    if not overlay_watch(context).changed():
        return
    station = station_of(context)
    try:
        kb = await asyncio.to_thread(staff.reload_knowledge, station)
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


def register(application: Application, station: Station | None = None) -> None:
    """Adds the staff handlers (group -2) and the overlay watch; `station`, if given, is
    stored where the handlers look for it."""
    if station is not None:
        application.bot_data[STATION_KEY] = station
    new = filters.UpdateType.MESSAGE
    for name, handler in COMMANDS:
        application.add_handler(CommandHandler(name, handler, filters=new), group=GROUP)
    application.add_handler(
        MessageHandler(new & filters.REPLY & filters.TEXT & ~filters.COMMAND, reply_to_linked),
        group=GROUP,
    )
    application.add_handler(CallbackQueryHandler(staff_button, pattern=rf"^{PREFIX}:"), group=GROUP)
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            # the first run, a second after start-up, only takes the file's fingerprint
            reload_if_overlay_changed,
            OVERLAY_CHECK_SECONDS,
            first=1,
        )
