"""Telegram handlers for residents: turn an Update into a Station call and render its Reply.

No decisions here: bot/core.py decides, these functions parse and render.
In group chats the bot answers only commands and messages that @mention it.
"""

from __future__ import annotations

import logging

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.core import Reply, Sender
from handlers.context import station_of
from handlers.staff import notify_staff

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
    """Who sent the update and where, as the core sees it."""
    user, chat = update.effective_user, update.effective_chat
    return Sender(
        user_id=user.id,
        chat_id=chat.id,
        private=chat.type == ChatType.PRIVATE,
        language_code=user.language_code,
        display_name=user.full_name,
    )


def command_text(context: ContextTypes.DEFAULT_TYPE) -> str:
    """The words after a command ("/wish more benches" -> "more benches")."""
    return " ".join(context.args or [])


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greets the resident and shows the big topic buttons."""
    await send(update, context, await station_of(context).on_start(sender_of(update)))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists what the bot understands."""
    await send(update, context, await station_of(context).on_help(sender_of(update)))


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Switches the reply language, or offers the choice as buttons."""
    reply = await station_of(context).on_language(sender_of(update), command_text(context))
    await send(update, context, reply)


async def mine(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the resident's own questions and wishes."""
    await send(update, context, await station_of(context).on_mine(sender_of(update)))


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Asks the resident to confirm deleting everything about them."""
    await send(update, context, await station_of(context).on_forget(sender_of(update)))


async def wish(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Saves the wish after /wish, or asks for it."""
    reply = await station_of(context).on_wish(
        sender_of(update), command_text(context), update_id=update.update_id
    )
    await send(update, context, reply)


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers a private text message (a question, a topic button, or a wish)."""
    reply = await station_of(context).on_text(
        sender_of(update), update.message.text, update_id=update.update_id
    )
    await send(update, context, reply)


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
        reply = await station.on_text(sender, question, update_id=update.update_id)
    else:
        reply = await station.on_help(sender)
    await send(update, context, reply)


async def location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tells the resident the nearest station to a shared location."""
    where = update.message.location
    reply = await station_of(context).on_location(
        sender_of(update), where.latitude, where.longitude
    )
    await send(update, context, reply)


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explains what the bot understands when sent a sticker, photo, voice note or file."""
    await send(update, context, await station_of(context).on_unsupported(sender_of(update)))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Acts on an inline button press."""
    query = update.callback_query
    await query.answer()
    reply = await station_of(context).on_callback(sender_of(update), query.data or "")
    if reply is not None and reply.retire_buttons and query.message is not None:
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except BadRequest as error:  # already removed, or the message is too old to edit
            log.debug("could not remove buttons: %s", error)
    await send(update, context, reply)


async def send(update: Update, context: ContextTypes.DEFAULT_TYPE, reply: Reply | None) -> None:
    """Sends a Reply (None: stay silent), then tells staff about anything it saved."""
    if reply is None:
        return
    quote = None
    if update.message is not None and update.effective_chat.type != ChatType.PRIVATE:
        quote = ReplyParameters(update.message.message_id, allow_sending_without_reply=True)
    await context.bot.send_message(
        chat_id=update.effective_chat.id,
        text=reply.text,
        reply_markup=markup(reply),
        reply_parameters=quote,
    )
    if reply.saved is not None:
        await notify_staff(context.bot, station_of(context), reply.saved)


def markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    """Inline buttons if the reply has any, else the big topic keyboard if it has one."""
    if reply.buttons:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                for row in reply.buttons
            ]
        )
    if reply.keyboard:
        return ReplyKeyboardMarkup(reply.keyboard, resize_keyboard=True, is_persistent=True)
    return None


def register(app: Application) -> None:
    """Adds every resident handler; the whole routing reads top to bottom here."""
    app.add_handler(CommandHandler("start", start, filters=NEW))
    app.add_handler(CommandHandler("help", help_command, filters=NEW))
    app.add_handler(CommandHandler("language", language, filters=NEW))
    app.add_handler(CommandHandler("mine", mine, filters=NEW))
    app.add_handler(CommandHandler("forget", forget, filters=NEW))
    app.add_handler(CommandHandler("wish", wish, filters=NEW))
    app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, help_command))
    app.add_handler(MessageHandler(PRIVATE & filters.TEXT, text))
    app.add_handler(MessageHandler(GROUP_MENTION, mention))
    app.add_handler(MessageHandler(PRIVATE & filters.LOCATION, location))
    app.add_handler(MessageHandler(PRIVATE & UNSUPPORTED, unsupported))
    app.add_handler(CallbackQueryHandler(button))
