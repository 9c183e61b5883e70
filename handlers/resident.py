"""Telegram handlers for residents: turn an Update into a Station call.

No decisions and no sending here: bot/core.py decides and queues the replies, which the
outbox's sender delivers (handlers/telegram.py renders them).
In group chats the bot answers only commands and messages that @mention it.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.core import Sender
from handlers.context import station_of

log = logging.getLogger(__name__)

# Only new messages: an edited message must not be answered (or saved) a second time.
NEW = filters.UpdateType.MESSAGE
PRIVATE = NEW & filters.ChatType.PRIVATE
GROUP_MENTION = (
    NEW & filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND & filters.Entity("mention")
)
UNSUPPORTED = (
    filters.Sticker.ALL
    | filters.PHOTO
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.Document.ALL
    | filters.CONTACT
    | filters.POLL
)


def sender_of(update: Update) -> Sender:
    """Who sent the update and where, as the core sees it. An anonymous group admin (or a
    channel) speaks as its chat, so they do not share one user id's flood counter."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    pressed = update.callback_query.message if update.callback_query else None
    user_id: int | str = user.id
    if message is not None and message.sender_chat is not None:
        user_id = f"chat{message.sender_chat.id}"
    return Sender(
        user_id=user_id,
        chat_id=chat.id,
        private=chat.type == ChatType.PRIVATE,
        language_code=user.language_code,
        display_name=user.full_name,
        channel="telegram",
        message_id=(pressed or message).message_id if (pressed or message) else None,
    )


def command_text(context: ContextTypes.DEFAULT_TYPE) -> str:
    """The words after a command ("/wish more benches" -> "more benches")."""
    return " ".join(context.args or [])


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greets the resident and shows the big topic buttons."""
    await station_of(context).on_start(sender_of(update))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists what the bot understands."""
    await station_of(context).on_help(sender_of(update))


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Switches the reply language, or offers the choice as buttons."""
    await station_of(context).on_language(sender_of(update), command_text(context))


async def home(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the resident's station and offers the others (several stations)."""
    await station_of(context).on_home(sender_of(update))


async def mine(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the resident's own questions and wishes."""
    await station_of(context).on_mine(sender_of(update))


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Asks the resident to confirm deleting everything about them."""
    await station_of(context).on_forget(sender_of(update))


async def wish(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Saves the wish after /wish, or asks for it."""
    await station_of(context).on_wish(sender_of(update), command_text(context))


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers a private text message (a question, a topic button, or a wish)."""
    await station_of(context).on_text(sender_of(update), update.message.text)


async def mention(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers a group message that @mentions the bot, without the mention."""
    message = update.message
    own = f"@{context.bot.username}".casefold()
    mentions = message.parse_entities([MessageEntity.MENTION])
    if not any(name.casefold() == own for name in mentions.values()):
        return
    question = message.text
    for entity in sorted(mentions, key=lambda e: e.offset, reverse=True):
        if mentions[entity].casefold() == own:
            question = question[: entity.offset] + question[entity.offset + entity.length :]
    station, sender = station_of(context), sender_of(update)
    if question.strip():
        await station.on_text(sender, question)
    else:
        await station.on_help(sender)


async def location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tells the resident the nearest station to a shared location."""
    where = update.message.location
    await station_of(context).on_location(sender_of(update), where.latitude, where.longitude)


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explains what the bot understands when sent a sticker, photo, voice note or file."""
    await station_of(context).on_unsupported(sender_of(update))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Acts on an inline button press."""
    query = update.callback_query
    with contextlib.suppress(TelegramError):  # the spinner stops by itself after a while
        await query.answer()
    await station_of(context).on_callback(sender_of(update), query.data or "")


def register(app: Application) -> None:
    """Adds every resident handler; the whole routing reads top to bottom here."""
    app.add_handler(CommandHandler("start", start, filters=NEW))
    app.add_handler(CommandHandler("help", help_command, filters=NEW))
    app.add_handler(CommandHandler("language", language, filters=NEW))
    app.add_handler(CommandHandler("mine", mine, filters=NEW))
    app.add_handler(CommandHandler("forget", forget, filters=NEW))
    app.add_handler(CommandHandler("wish", wish, filters=NEW))
    app.add_handler(CommandHandler("station", home, filters=NEW))
    app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, help_command))
    app.add_handler(MessageHandler(PRIVATE & filters.TEXT, text))
    app.add_handler(MessageHandler(GROUP_MENTION, mention))
    app.add_handler(MessageHandler(PRIVATE & filters.LOCATION, location))
    app.add_handler(MessageHandler(PRIVATE & UNSUPPORTED, unsupported))
    app.add_handler(CallbackQueryHandler(button))
