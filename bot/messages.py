"""Every message and button label residents see, in Chinese and English, in one catalogue.

Plain text only (no markup), short and polite: many residents are elderly.
"""

from __future__ import annotations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

MESSAGES: dict[str, dict[str, str]] = {
    # --- greeting and help ---
    "start": {
        "zh": (
            "您好！我是市民驿站的小助手。\n"
            "您可以直接打字问我，比如“食堂几点开门”，也可以点下面的大按钮。\n"
            "我答不上来的问题，会转给工作人员，他们会在这里回复您。"
        ),
        "en": (
            "Hello! I am the neighbourhood service station's helper.\n"
            "Type your question, for example “When does the canteen open?”, "
            "or tap one of the big buttons below.\n"
            "If I cannot answer, I pass your question to the staff and they reply here."
        ),
    },
    "help": {
        "zh": (
            "怎么用我：\n"
            "· 直接打字提问，或点下面的按钮\n"
            "· /wish 许个微心愿\n"
            "· /mine 看看我的问题和心愿办得怎么样\n"
            "· /language 换语言（中文 / English）\n"
            "· /forget 删除我在这里留下的所有信息\n"
            "· 发个位置给我，我告诉您最近的驿站"
        ),
        "en": (
            "How to use me:\n"
            "· Type a question, or tap a button below\n"
            "· /wish make a micro-wish\n"
            "· /mine see your questions and wishes and how they are going\n"
            "· /language change language (中文 / English)\n"
            "· /forget delete everything stored about you\n"
            "· Send me your location and I tell you the nearest station"
        ),
    },
    # --- the command menu Telegram shows next to the text box ---
    "command.start": {"zh": "开始", "en": "Start"},
    "command.help": {"zh": "怎么用", "en": "How to use me"},
    "command.wish": {"zh": "许个微心愿", "en": "Make a micro-wish"},
    "command.mine": {"zh": "我的问题和心愿", "en": "My questions and wishes"},
    "command.language": {"zh": "换语言", "en": "Change language"},
    "command.forget": {"zh": "删除我的信息", "en": "Delete my data"},
    "command.station": {"zh": "我的驿站", "en": "My station"},
    # --- big topic buttons (reply keyboard) ---
    "topic.canteen": {"zh": "🍚 社区食堂", "en": "🍚 Canteen"},
    "topic.hours": {"zh": "🕘 开放时间", "en": "🕘 Opening hours"},
    "topic.donation": {"zh": "❤️ 捐赠", "en": "❤️ Donations"},
    "topic.aid": {"zh": "📝 申请资助", "en": "📝 Apply for aid"},
    "topic.services": {"zh": "🏠 其他服务", "en": "🏠 Other services"},
    "topic.wish": {"zh": "🌟 许个心愿", "en": "🌟 Make a wish"},
    "choose": {"zh": "请选一个：", "en": "Please choose one:"},
    # --- language ---
    "language.prompt": {"zh": "请选择语言：", "en": "Please choose a language:"},
    "language.set": {
        "zh": "好的，以后我用中文回复您。",
        "en": "OK, I will reply in English from now on.",
    },
    "language.zh": {"zh": "中文", "en": "中文"},
    "language.en": {"zh": "English", "en": "English"},
    # --- answers and suggestions ---
    "feedback.good": {"zh": "👍 有帮助", "en": "👍 Helpful"},
    "feedback.bad": {"zh": "👎 没帮助", "en": "👎 Not helpful"},
    "feedback.thanks": {"zh": "谢谢您的反馈！", "en": "Thank you for telling me!"},
    "feedback.sorry": {
        "zh": "对不起，没帮上忙。要不要把您的问题转给工作人员？",
        "en": "Sorry that did not help. Shall I pass your question to the staff?",
    },
    "feedback.pass": {"zh": "📨 转给工作人员", "en": "📨 Pass it to the staff"},
    "also_asked": {
        "zh": "您还问到：“{question}”，请点下面的按钮看回答。",
        "en": 'You also asked: "{question}". Tap the button below for that answer.',
    },
    "did_you_mean": {"zh": "您是想问下面哪一个？", "en": "Did you mean one of these?"},
    "none_of_these": {"zh": "都不是，转给工作人员", "en": "None of these: ask the staff"},
    # --- questions saved for staff ---
    "question.saved": {
        "zh": "这个问题我还答不上来，已经转给工作人员了。编号 {ref}，他们会在这里回复您。",
        "en": (
            "I cannot answer this yet, so I passed it to the staff. "
            "Reference {ref}: they will reply to you here."
        ),
    },
    "question.passed": {
        "zh": "好的，已经转给工作人员了。编号 {ref}，他们会在这里回复您。",
        "en": "Done: I passed your question to the staff. Reference {ref}: they will reply here.",
    },
    "question.already": {
        "zh": "这个问题已经转给工作人员了，编号 {ref}。",
        "en": "This question is already with the staff, reference {ref}.",
    },
    "human.saved": {
        "zh": "我已经把您的话转给工作人员了，编号 {ref}。",
        "en": "I passed your message to the staff, reference {ref}.",
    },
    "save_failed": {
        "zh": "对不起，刚才没能保存，请过一会儿再试一次。{contact}",
        "en": "Sorry, I could not save that. Please try again in a moment. {contact}",
    },
    "save_failed.contact": {
        "zh": "着急的话请打电话 {phone}。",
        "en": "If it is urgent, please call {phone}.",
    },
    # --- wishes ---
    "wish.prompt": {
        "zh": "请告诉我您的心愿，比如想上的课、想参加的活动、想解决的困难。直接打字发给我就行。",
        "en": (
            "Please tell me your wish: a class you would like, an activity to join, "
            "or a problem to solve. Just type it and send it."
        ),
    },
    "wish.saved": {
        "zh": "您的心愿已经记下了，编号 {ref}。工作人员会跟进，有消息会在这里告诉您。",
        "en": "Your wish is recorded, reference {ref}. The staff will follow up and tell you here.",
    },
    "wish.start": {"zh": "🌟 现在就许个心愿", "en": "🌟 Make a wish now"},
    "wish.cancel": {"zh": "取消", "en": "Cancel"},
    "wish.cancelled": {"zh": "好的，不许了。", "en": "OK, no wish this time."},
    # --- the resident's own items ---
    "mine.empty": {
        "zh": "您还没有留下问题或心愿。",
        "en": "You have no questions or wishes with us yet.",
    },
    "mine.header": {"zh": "您的问题和心愿：", "en": "Your questions and wishes:"},
    "mine.item": {
        "zh": "{ref}（{kind}，{status}）：{text}",
        "en": "{ref} ({kind}, {status}): {text}",
    },
    "mine.reply": {"zh": "  工作人员回复：{text}", "en": "  Staff replied: {text}"},
    "mine.more": {"zh": "……还有 {count} 条没列出。", "en": "...and {count} older ones."},
    "kind.question": {"zh": "问题", "en": "question"},
    "kind.wish": {"zh": "心愿", "en": "wish"},
    "status.open": {"zh": "等待处理", "en": "waiting"},
    "status.answered": {"zh": "已回复", "en": "answered"},
    "status.resolved": {"zh": "已解决", "en": "resolved"},
    "status.closed": {"zh": "已结束", "en": "closed"},
    "status.accepted": {"zh": "已受理", "en": "accepted"},
    "status.in_progress": {"zh": "正在办", "en": "in progress"},
    "status.done": {"zh": "已实现", "en": "done"},
    "status.declined": {"zh": "暂时办不了", "en": "not possible for now"},
    # --- forgetting ---
    "forget.confirm": {
        "zh": "确定要删除您在这里留下的所有信息吗？包括问题、心愿和语言设置。删除后不能恢复。",
        "en": (
            "Delete everything stored about you here, including questions, wishes "
            "and your language choice? This cannot be undone."
        ),
    },
    "forget.yes": {"zh": "确定删除", "en": "Yes, delete"},
    "forget.no": {"zh": "不删了", "en": "No, keep it"},
    "forget.done": {
        "zh": "已经删除了您的所有信息（{count} 条记录）。",
        "en": "Everything stored about you is deleted ({count} records).",
    },
    "forget.kept": {"zh": "好的，什么都没删。", "en": "OK, nothing was deleted."},
    # --- other situations ---
    "expired": {
        "zh": "这个按钮已经过期了，请重新问我一次。",
        "en": "This button has expired. Please ask me again.",
    },
    "not_yours": {
        "zh": "这个按钮是给提问的人用的。您有问题可以直接问我。",
        "en": "This button belongs to the person who asked. You can ask me your own question.",
    },
    "slow_down": {
        "zh": "您发得有点快，我跟不上了。请稍等一会儿再发。",
        "en": "You are sending messages a little fast for me. Please wait a moment.",
    },
    "only_text": {
        "zh": "我只看得懂文字。请打字问我，或者发个位置，我告诉您最近的驿站。",
        "en": (
            "I can only read text. Please type your question, "
            "or send your location and I will tell you the nearest station."
        ),
    },
    "private_only": {
        "zh": "这个请私聊我，这样别人看不到您的信息。",
        "en": "Please message me privately for this, so others cannot see your details.",
    },
    "no_branches": {
        "zh": "对不起，我还不知道各个驿站的位置。请问“驿站在哪里”。",
        "en": "Sorry, I do not know where the stations are yet. Ask me “Where is the station?”",
    },
    "empty_question": {"zh": "请打字告诉我您的问题。", "en": "Please type your question."},
    # --- the console chat (`stationbot chat`) ---
    "console.no_choice": {
        "zh": "（没有 {choice} 这个选项，请输入上面列出的数字或字母。）",
        "en": "(There is no choice {choice}: type one of the numbers or letters shown.)",
    },
    "console.no_buttons": {
        "zh": "（现在没有可选的按钮。请直接打字提问。）",
        "en": "(There are no buttons to choose right now: just type your question.)",
    },
    "console.saved": {
        "zh": "（已存给工作人员，编号 {ref}：用 stationbot inbox 查看）",
        "en": "(saved for staff as {ref}: see stationbot inbox)",
    },
    # --- the staff loop (texts bot/staff.py and handlers/staff.py send to residents) ---
    "staff.reply_question": {
        "zh": "驿站工作人员回复了您的问题（{ref}）：\n「{question}」\n\n{answer}",
        "en": "Station staff answered your question ({ref}):\n“{question}”\n\n{answer}",
    },
    "staff.reply_wish": {
        "zh": "驿站工作人员回复了您的心愿（{ref}）：\n「{question}」\n\n{answer}",
        "en": "Station staff answered your wish ({ref}):\n“{question}”\n\n{answer}",
    },
    "staff.reply_hint": {
        "zh": "如还有疑问，直接回复这条消息即可。",
        "en": "To ask more, just reply to this message.",
    },
    "staff.reply_hint.wechat": {
        "zh": "如还有疑问，直接发消息问我，或打电话给驿站。",
        "en": "To ask more, just send me a message, or phone the station.",
    },
    "staff.wish_accepted": {
        "zh": "您的心愿（{ref}）「{text}」驿站已经受理，我们会尽快安排。",
        "en": "Your wish ({ref}) “{text}” is accepted: the station will arrange it.",
    },
    "staff.wish_in_progress": {
        "zh": "您的心愿（{ref}）「{text}」正在办理中。",
        "en": "Your wish ({ref}) “{text}” is being worked on.",
    },
    "staff.wish_done": {
        "zh": "您的心愿（{ref}）「{text}」已经实现啦！",
        "en": "Your wish ({ref}) “{text}” has come true!",
    },
    "staff.wish_declined": {
        "zh": "很抱歉，您的心愿（{ref}）「{text}」驿站暂时办不了。",
        "en": "Sorry, the station cannot make your wish ({ref}) “{text}” happen for now.",
    },
    "staff.note": {"zh": "工作人员留言：{note}", "en": "Note from staff: {note}"},
    "staff.thanks_button": {"zh": "👍 谢谢", "en": "👍 Thanks"},
    "staff.thanks_ack": {"zh": "不客气！祝您生活愉快。", "en": "You're welcome!"},
    "staff.follow_up_saved": {
        "zh": "已转给工作人员（{ref}），他们会在这里回复您。",
        "en": "Passed to the staff ({ref}); they will answer you here.",
    },
    "staff.not_allowed": {
        "zh": "抱歉，我不明白这个命令。发送 /help 看看我能做什么。",
        "en": "Sorry, I don't know that command. Send /help to see what I can do.",
    },
    "staff.resolved_note": {
        "zh": "关于您的问题（{ref}）「{question}」，工作人员说：\n{note}",
        "en": "About your question ({ref}) “{question}”, the staff say:\n{note}",
    },
    "staff.taught": {
        "zh": "工作人员为您的问题（{ref}）「{question}」添加了答案：\n\n{answer}",
        "en": "The staff have added an answer to your question {ref} “{question}”:\n\n{answer}",
    },
    # --- resident situations added with the outbox ---
    "fraud.saved": {
        "zh": "我也已经告诉了驿站工作人员（编号 {ref}），他们会联系您。",
        "en": "I have also told the station staff (reference {ref}); they will contact you.",
    },
    "too_many_open": {
        "zh": "您已经有很多问题在等工作人员回复了。请先等一等，他们会在这里回复您。{contact}",
        "en": (
            "You already have many questions waiting for the staff. Please wait for their "
            "replies here. {contact}"
        ),
    },
    "acknowledged": {
        "zh": "好的！还有什么想问的，直接打字告诉我。",
        "en": "OK! If there is anything else, just type your question.",
    },
    "wish.save_instead": {"zh": "🌟 这是我的心愿，请记下", "en": "🌟 This is my wish: save it"},
    "mine.more_button": {"zh": "更早的 ▶", "en": "Older ▶"},
    "help.console": {
        "zh": (
            "怎么用我：\n"
            "· 直接打字提问，或输入下面按钮前的字母\n"
            "· /wish 许个微心愿\n"
            "· /mine 看看我的问题和心愿办得怎么样\n"
            "· /language 换语言（中文 / English）\n"
            "· /forget 删除我在这里留下的所有信息"
        ),
        "en": (
            "How to use me:\n"
            "· Type a question, or the letter of a button below\n"
            "· /wish make a micro-wish\n"
            "· /mine see your questions and wishes and how they are going\n"
            "· /language change language (中文 / English)\n"
            "· /forget delete everything stored about you"
        ),
    },
    # --- WeChat (no buttons there: choices are numbered, commands are words) ---
    "start.wechat": {
        "zh": (
            "您好！我是市民驿站的小助手。\n"
            "您可以直接打字或发语音问我，比如“食堂几点开门”，也可以回复下面的数字，"
            "或点底部的菜单。\n"
            "我答不上来的问题，会转给工作人员，他们会在这里回复您。"
        ),
        "en": (
            "Hello! I am the neighbourhood service station's helper.\n"
            "Type or say your question, for example “When does the canteen open?”, "
            "reply with one of the numbers below, or use the menu at the bottom.\n"
            "If I cannot answer, I pass your question to the staff and they reply here."
        ),
    },
    "help.wechat": {
        "zh": (
            "怎么用我：\n"
            "· 直接打字或发语音提问，或回复列出的数字\n"
            "· 发“许愿 想学做菜”许个微心愿\n"
            "· 发“我的问题”看看问题和心愿办得怎么样\n"
            "· 发“English”或“中文”换语言\n"
            "· 发“删除我的记录”删除我在这里留下的所有信息\n"
            "· 发个位置给我，我告诉您最近的驿站"
        ),
        "en": (
            "How to use me:\n"
            "· Type or say a question, or reply with one of the numbers shown\n"
            "· Send “wish I'd like a cooking class” to make a micro-wish\n"
            "· Send “my questions” to see your questions and wishes\n"
            "· Send “中文” or “English” to change language\n"
            "· Send “delete my data” to delete everything stored about you\n"
            "· Send me your location and I tell you the nearest station"
        ),
    },
    "only_text.wechat": {
        "zh": "图片、视频和链接我还看不懂。请打字或发语音问我，或者发个位置，我告诉您最近的驿站。",
        "en": (
            "I cannot read pictures, videos or links yet. Please type or say your question, "
            "or send your location and I will tell you the nearest station."
        ),
    },
    "voice.unrecognised": {
        "zh": "这条语音我没听清。请打字问我，或者打电话 {phone}。",
        "en": (
            "I could not make out that voice message. Please type your question, or call {phone}."
        ),
    },
    "voice.unrecognised.no_phone": {
        "zh": "这条语音我没听清。请打字问我。",
        "en": "I could not make out that voice message. Please type your question.",
    },
    "wechat.choices": {
        "zh": "请回复数字（{numbers}）：",
        "en": "Reply with a number ({numbers}):",
    },
    "wechat.menu.ask": {"zh": "问一问", "en": "Ask"},
    "wechat.menu.mine": {"zh": "我的", "en": "Mine"},
    "wechat.menu.more": {"zh": "更多", "en": "More"},
    # --- staff texts (Telegram notices and commands, the command line, the web console) ---
    "staffui.question": {"zh": "🆕 问题 {ref}", "en": "🆕 Question {ref}"},
    "staffui.wish": {"zh": "🌟 心愿 {ref}", "en": "🌟 Wish {ref}"},
    "staffui.fraud": {
        "zh": "🚨 疑似诈骗，已给居民防骗提醒 {ref}",
        "en": "🚨 Possible fraud, resident warned {ref}",
    },
    "staffui.follow_up": {"zh": "↩️ 追问 {ref}", "en": "↩️ Follow-up {ref}"},
    "staffui.from": {"zh": "来自：{name}（{channel}）", "en": "From: {name} ({channel})"},
    "staffui.at": {"zh": "时间：{time}", "en": "Time: {time}"},
    "staffui.asked": {"zh": "原问题：{text}", "en": "Original: {text}"},
    "staffui.guesses": {"zh": "可能是：", "en": "Best guesses:"},
    "staffui.digest": {
        "zh": "📬 {count} 条新的问题和心愿（点按钮处理）：",
        "en": "📬 {count} new questions and wishes (use the buttons):",
    },
    "staffui.reply": {"zh": "✍️ 回复 {ref}", "en": "✍️ Reply {ref}"},
    "staffui.resolve": {"zh": "✅ 已解决", "en": "✅ Resolve"},
    "staffui.teach": {"zh": "📚 教给FAQ", "en": "📚 Teach"},
    "staffui.accept": {"zh": "👍 受理", "en": "👍 Accept"},
    "staffui.decline": {"zh": "🙏 婉拒", "en": "🙏 Decline"},
    "staffui.reply_prompt": {
        "zh": "✍️ 请回复这条消息，写给居民的答复（{ref}）。",
        "en": "✍️ Reply to this message with the answer for {ref}.",
    },
    "staffui.sent": {"zh": "✅ 已发送给 {name}（{ref}）。", "en": "✅ Sent to {name} ({ref})."},
    "staffui.resolved": {"zh": "✅ {ref} 已解决。", "en": "✅ {ref} resolved."},
    "staffui.wish_set": {
        "zh": "✅ {ref} → {status}；已通知居民。",
        "en": "✅ {ref} → {status}; resident told.",
    },
    "staffui.teach_pick": {
        "zh": "📚 {ref}「{text}」\n教给哪个条目？",
        "en": "📚 {ref} “{text}”\nTeach it to which entry?",
    },
    "staffui.teach_none": {
        "zh": "没有候选条目，请用 /teach {ref} 条目编号。",
        "en": "No guesses: use /teach {ref} ENTRY_ID.",
    },
    "staffui.taught": {
        "zh": "📚 已加入 {entry}：“{text}”。",
        "en": "📚 Added to {entry}: “{text}”.",
    },
    "staffui.taught_already": {
        "zh": "📚 {entry} 已经有了：“{text}”。",
        "en": "📚 Already taught to {entry}: “{text}”.",
    },
    "staffui.now_answered": {
        "zh": "✅ 现在能直接回答了（{score:.0f} 分），已告诉提问的居民。",
        "en": "✅ Now answered ({score:.0f}); the resident who asked was told.",
    },
    "staffui.not_yet_answered": {
        "zh": "⚠️ 匹配结果仍是 {outcome}（{score:.0f} 分）。",
        "en": "⚠️ The matcher still says {outcome} ({score:.0f}).",
    },
    "staffui.reloaded": {
        "zh": "🔄 已重新加载：{entries} 个条目。",
        "en": "🔄 Reloaded: {entries} entries.",
    },
    "staffui.inbox_empty": {"zh": "📭 没有待处理的事项。", "en": "📭 The inbox is empty."},
    "staffui.inbox_head": {
        "zh": "📥 待处理 {first}–{last} / {total}（等得最久的在前）：",
        "en": "📥 Open items {first}–{last} / {total} (longest waiting first):",
    },
    "staffui.wishes_empty": {"zh": "没有心愿。", "en": "No wishes."},
    "staffui.wishes_head": {
        "zh": "🌟 心愿（相似的合并）：",
        "en": "🌟 Wishes, similar ones pooled:",
    },
    "staffui.usage_reply": {"zh": "用法：/reply 编号 回复内容", "en": "Usage: /reply REF text"},
    "staffui.usage_resolve": {
        "zh": "用法：/resolve 编号 [备注]",
        "en": "Usage: /resolve REF [note]",
    },
    "staffui.usage_wish_status": {
        "zh": "用法：/wish_status 编号 accepted|in_progress|done|declined [备注]",
        "en": "Usage: /wish_status REF accepted|in_progress|done|declined [note]",
    },
    "staffui.usage_teach": {"zh": "用法：/teach 编号 条目编号", "en": "Usage: /teach REF ENTRY_ID"},
    "staffui.usage_stats": {"zh": "用法：/stats [天数]", "en": "Usage: /stats [days]"},
    "staffui.not_here": {
        "zh": "请在员工群或私聊中使用员工命令。",
        "en": "Use staff commands in the staff group or privately.",
    },
    "staffui.unreachable": {
        "zh": (
            "⚠️ {ref} 无法送达：居民在 {channel} 上联系不到了"
            "（拉黑了机器人，或微信 48 小时窗口已过）。请打电话联系。"
        ),
        "en": (
            "⚠️ {ref} could not be delivered: the resident cannot be reached on {channel} "
            "(bot blocked, or WeChat's 48-hour window closed). Please phone them."
        ),
    },
    "staffui.failed": {"zh": "⚠️ {error}", "en": "⚠️ {error}"},
    "staffui.export_caption": {"zh": "导出：{count} 行", "en": "Export: {count} rows"},
    "staffui.export_private": {
        "zh": "导出文件含个人信息，已私聊发给您。",
        "en": "The export holds personal data: sent to you privately.",
    },
    "staffui.no_item": {"zh": "没有编号为 {ref} 的问题或心愿", "en": "no question or wish {ref}"},
    "staffui.empty_reply": {
        "zh": "回复是空的：请在编号后面写上答复",
        "en": "empty reply: write the answer after the reference",
    },
    "staffui.resolve_wish": {
        "zh": "{ref} 是心愿：请用 wish_status {ref} done|declined",
        "en": "{ref} is a wish: use wish_status {ref} done|declined",
    },
    "staffui.already_resolved": {"zh": "{ref} 已经解决了", "en": "{ref} is already resolved"},
    "staffui.not_wish": {"zh": "{ref} 是问题，不是心愿", "en": "{ref} is a question, not a wish"},
    # --- staff figures (/stats, stationbot stats) ---
    "stats.head": {
        "zh": "最近 {days} 天（{start} 至 {end}，UTC）",
        "en": "Last {days} days ({start} – {end} UTC)",
    },
    "stats.received": {"zh": "收到问题：{count}", "en": "Questions received: {count}"},
    "stats.answered": {
        "zh": "  机器人直接回答：{count}（{share}）",
        "en": "  answered by the bot: {count} ({share})",
    },
    "stats.suggested": {"zh": "  给出“您是想问”：{count}", "en": "  offered suggestions: {count}"},
    "stats.not_understood": {
        "zh": "  没听懂，转给工作人员：{count}",
        "en": "  not understood, passed to staff: {count}",
    },
    "stats.clicks": {"zh": "点选建议：{count}", "en": "Suggestion clicks: {count}"},
    "stats.saved": {"zh": "转给工作人员的问题：{count}", "en": "Saved for staff: {count}"},
    "stats.by_staff": {"zh": "工作人员已回复：{count}", "en": "Answered by staff: {count}"},
    "stats.median": {"zh": "回复时间中位数：{age}", "en": "Median time to a staff reply: {age}"},
    "stats.wishes": {"zh": "心愿：{count}", "en": "Wishes: {count}"},
    "stats.top": {"zh": "未回答的常见问题：", "en": "Most frequent unanswered:"},
    # --- live lines of answers (bot/live.py): hours, meals, menu, branches, holidays ---
    "live.open_now": {"zh": "现在开着，{until} 关门。", "en": "Open now, until {until}."},
    "live.lunch_break": {
        "zh": "现在午休中，{reopen} 再开。",
        "en": "Closed now for the lunch break; open again at {reopen}.",
    },
    "live.break": {
        "zh": "现在休息中，{reopen} 再开。",
        "en": "Closed now for a break; open again at {reopen}.",
    },
    "live.not_yet": {
        "zh": "现在还没开门，今天 {opens} 开门。",
        "en": "Not open yet; opens today at {opens}.",
    },
    "live.closed_now": {
        "zh": "现在不开门。下次开门：{next}。",
        "en": "Closed now. Next opening: {next}.",
    },
    "live.no_next": {
        "zh": "现在不开门。最近一个月没有开放安排，请打电话问一下。",
        "en": "Closed now, with no opening in the next month. Please phone us.",
    },
    "live.today_hours": {"zh": "今天开放时间：{hours}。", "en": "Today's hours: {hours}."},
    "live.today_closed": {"zh": "今天（{weekday}）休息。", "en": "Closed today ({weekday})."},
    "live.today_holiday": {
        "zh": "今天是{holiday}假期，休息。",
        "en": "Today is a public holiday ({holiday}): closed.",
    },
    "live.today_holiday_hours": {
        "zh": "今天是{holiday}假期，开放时间：{hours}。",
        "en": "Today is a public holiday ({holiday}). Hours: {hours}.",
    },
    "live.today_adjusted": {
        "zh": "今天是调休上班日，开放时间：{hours}。",
        "en": "Today is an adjusted working day (调休). Hours: {hours}.",
    },
    "live.today_closed_date": {"zh": "今天临时休息。", "en": "Closed today (special closing)."},
    "live.calendar_unknown": {
        "zh": "（{year}年的节假日安排还不知道，节假日前请先打电话问一下。）",
        "en": (
            "(The {year} public holidays are not known yet; please phone before coming on a hol"
            "iday.)"
        ),
    },
    "live.next_tomorrow": {"zh": "明天 {weekday} {time}", "en": "tomorrow, {weekday} {time}"},
    "live.next_this_week": {"zh": "{weekday} {time}", "en": "{weekday} {time}"},
    "live.next_dated": {
        "zh": "{month}月{day}日 {weekday} {time}",
        "en": "{weekday} {day} {month}, {time}",
    },
    "live.serving": {
        "zh": "现在是{meal}时间（{hours}）。",
        "en": "The canteen is serving {meal} now ({hours}).",
    },
    "live.no_meal_now": {
        "zh": "现在不供餐。下一顿：{meal} {hours}。",
        "en": "No meal is being served right now. Next: {meal} {hours}.",
    },
    "live.meals_over": {
        "zh": "今天的饭点已经过了。明天{meal} {start} 开始。",
        "en": "Today's meals are over. Tomorrow {meal} starts at {start}.",
    },
    "live.canteen_holiday": {
        "zh": "今天是节假日，供餐可能有调整，请先打电话问一下。",
        "en": "Today is a public holiday: meal times may change, please phone first.",
    },
    "live.canteen_named_holiday": {
        "zh": "{holiday}假期（{days}）供餐可能有调整，请先打电话问一下。",
        "en": "Over the {holiday} holiday ({days}) meal times may change; please phone first.",
    },
    "live.menu_title": {"zh": "今天（{weekday}）的菜单：", "en": "Today's menu ({weekday}):"},
    "live.menu_line": {"zh": "{meal}：{dishes}", "en": "{meal}: {dishes}"},
    "live.meal_label": {"zh": "{meal}（{hours}）", "en": "{meal} ({hours})"},
    "live.no_menu": {
        "zh": "今天（{weekday}）没有菜单。",
        "en": "There is no menu for today ({weekday}).",
    },
    "live.nearest_one": {"zh": "离您最近的驿站：", "en": "The nearest station:"},
    "live.nearest_many": {
        "zh": "离您最近的 {count} 个驿站：",
        "en": "The {count} nearest stations:",
    },
    "live.branch_distance": {"zh": "{name}，约 {distance}", "en": "{name}, about {distance}"},
    "live.address": {"zh": "地址：{address}", "en": "Address: {address}"},
    "live.phone": {"zh": "电话：{phone}", "en": "Phone: {phone}"},
    "live.meters": {"zh": "{value} 米", "en": "{value} m"},
    "live.kilometers": {"zh": "{value} 公里", "en": "{value} km"},
    "live.branch_count": {
        "zh": "共有 {count} 个市民驿站：",
        "en": "There are {count} citizen service stations:",
    },
    "live.branch_brief": {
        "zh": "{number}. {name}：{address}，电话 {phone}",
        "en": "{number}. {name}: {address}, phone {phone}",
    },
    "live.send_location": {
        "zh": "发送您的位置，就能找到离您最近的驿站。",
        "en": "Send your location to find the nearest one.",
    },
    "live.home_branch": {
        "zh": "您的驿站是{name}：",
        "en": "Your station is {name}:",
    },
    "live.no_canteen": {
        "zh": "{name}没有社区食堂。",
        "en": "{name} has no community canteen.",
    },
    "live.named_branch": {
        "zh": "{street}的驿站是{name}：",
        "en": "The station on {street} is {name}:",
    },
    "live.holiday_closed": {
        "zh": "{holiday}假期（{days}）：休息。",
        "en": "{holiday} holiday ({days}): closed.",
    },
    "live.holiday_open": {
        "zh": "{holiday}假期（{days}）：开放 {hours}。",
        "en": "{holiday} holiday ({days}): open {hours}.",
    },
    "live.holiday_except": {"zh": "其中 {day} {state}。", "en": "Except {day}: {state}."},
    "live.holiday_workdays": {
        "zh": "调休上班日 {days}：开放 {hours}。",
        "en": "Adjusted working days (调休) {days}: open {hours}.",
    },
    "live.holiday_unknown": {
        "zh": "{year}年{holiday}的放假日期还不知道；法定节假日驿站{state}，节前请先打电话问一下。",
        "en": (
            "The {year} {holiday} holiday dates are not known yet; on public holidays the stati"
            "on is {state}. Please phone before coming."
        ),
    },
    "live.closed": {"zh": "休息", "en": "closed"},
    "live.week_title": {"zh": "{name}的开放时间：", "en": "{name} is open:"},
    "live.week_line": {"zh": "{days}：{state}", "en": "{days}: {state}"},
    "live.week_holidays": {"zh": "法定节假日：{state}", "en": "Statutory holidays: {state}"},
    "live.open_hours": {"zh": "开放 {hours}", "en": "open {hours}"},
    "live.date": {"zh": "{month}月{day}日", "en": "{day} {month}"},
    "live.date_weekday": {"zh": "{month}月{day}日（{weekday}）", "en": "{weekday} {day} {month}"},
    "live.date_span": {"zh": "{first}至{last}", "en": "{first} to {last}"},
    "live.list_sep": {"zh": "、", "en": ", "},
    # --- staff web console (handlers/staff_web.py, issue 12) ---
    "web.app_name": {"zh": "驿站助手 · 工作台", "en": "Station Helper · Staff console"},
    "web.csrf_failed": {
        "zh": "页面已过期，请返回上一页刷新后再试。",
        "en": "This page has expired: go back, reload it and try again.",
    },
    "web.storage_error": {
        "zh": "数据库暂时无法使用，请稍后再试。",
        "en": "The database is busy or unavailable; please try again shortly.",
    },
    "web.refused": {"zh": "没有办成：", "en": "Not done:"},
    "web.days": {"zh": "{days} 天", "en": "{days} days"},
    "web.empty": {"zh": "暂无数据", "en": "Nothing yet"},
    "web.export": {"zh": "导出 CSV（Excel 可打开）", "en": "Export CSV (opens in Excel)"},
    "web.prev": {"zh": "上一页", "en": "Previous"},
    "web.next": {"zh": "下一页", "en": "Next"},
    "web.page": {"zh": "第 {page} / {pages} 页", "en": "Page {page} of {pages}"},
    "web.logout": {"zh": "退出登录", "en": "Sign out"},
    "web.nav.inbox": {"zh": "待处理", "en": "Inbox"},
    "web.nav.review": {"zh": "问题归类", "en": "Review"},
    "web.nav.wishes": {"zh": "微心愿", "en": "Wishes"},
    "web.nav.figures": {"zh": "统计", "en": "Figures"},
    "web.nav.faq": {"zh": "问答库", "en": "FAQ"},
    "web.login.title": {"zh": "工作人员登录", "en": "Staff sign-in"},
    "web.login.name": {"zh": "账号", "en": "Account name"},
    "web.login.password": {"zh": "密码", "en": "Password"},
    "web.login.submit": {"zh": "登录", "en": "Sign in"},
    "web.login.wrong": {
        "zh": "账号或密码不对，请再试一次。",
        "en": "Wrong account name or password; please try again.",
    },
    "web.login.limited": {
        "zh": "尝试次数太多，请 15 分钟后再试。",
        "en": "Too many attempts: please wait 15 minutes.",
    },
    "web.login.required": {"zh": "请先登录。", "en": "Please sign in first."},
    "web.login.hint": {
        "zh": "没有账号？请管理员在驿站电脑上运行 stationbot staff add 您的名字。",
        "en": "No account? Ask the administrator to run"
        " `stationbot staff add YOUR-NAME` on the station PC.",
    },
    "web.inbox.title": {
        "zh": "待处理的问题和心愿（等得最久的在前）",
        "en": "Questions and wishes waiting (longest waiting first)",
    },
    "web.inbox.kind": {"zh": "类型", "en": "Kind"},
    "web.inbox.kind_all": {"zh": "全部", "en": "All"},
    "web.inbox.status": {"zh": "状态", "en": "Status"},
    "web.inbox.outcome": {"zh": "机器人处理", "en": "What the bot did"},
    "web.inbox.outcome_all": {"zh": "不限", "en": "Any"},
    "web.inbox.search": {"zh": "搜索", "en": "Search"},
    "web.inbox.search_hint": {"zh": "输入关键词，如：停水", "en": "A word, e.g. water"},
    "web.inbox.apply": {"zh": "筛选", "en": "Apply"},
    "web.inbox.total": {"zh": "共 {total} 条", "en": "{total} in all"},
    "web.inbox.ref": {"zh": "编号", "en": "Ref"},
    "web.inbox.text": {"zh": "内容", "en": "Text"},
    "web.inbox.who": {"zh": "居民", "en": "Resident"},
    "web.inbox.bot": {"zh": "机器人", "en": "Bot"},
    "web.inbox.waiting": {"zh": "已等", "en": "Waiting"},
    "web.inbox.empty": {"zh": "没有符合条件的条目。", "en": "Nothing matches."},
    "web.kind.question": {"zh": "问题", "en": "Question"},
    "web.kind.wish": {"zh": "心愿", "en": "Wish"},
    "web.status.open": {"zh": "待处理", "en": "Open"},
    "web.status.all": {"zh": "全部状态", "en": "Any status"},
    "web.status.answered": {"zh": "已回复", "en": "Answered"},
    "web.status.resolved": {"zh": "已办结", "en": "Resolved"},
    "web.status.closed": {"zh": "已关闭", "en": "Closed"},
    "web.status.accepted": {"zh": "已受理", "en": "Accepted"},
    "web.status.in_progress": {"zh": "办理中", "en": "In progress"},
    "web.status.done": {"zh": "已实现", "en": "Done"},
    "web.status.declined": {"zh": "暂不能办", "en": "Declined"},
    "web.outcome.answer": {"zh": "已自动回答", "en": "Answered"},
    "web.outcome.suggest": {"zh": "给了候选", "en": "Suggested"},
    "web.outcome.none": {"zh": "没答上", "en": "Not answered"},
    "web.outcome.thumbs_down": {"zh": "居民说没帮助", "en": "Resident said not helpful"},
    "web.item.back": {"zh": "返回待处理列表", "en": "Back to the inbox"},
    "web.item.anonymous": {"zh": "（未留名）", "en": "(no name)"},
    "web.item.waited": {"zh": "已等 {age}", "en": "waiting {age}"},
    "web.item.bot_did": {"zh": "机器人当时的判断", "en": "What the bot did"},
    "web.item.no_candidates": {"zh": "没有找到相近的问答。", "en": "No close FAQ entry was found."},
    "web.item.trail": {"zh": "处理记录", "en": "What happened"},
    "web.item.reply": {"zh": "回复居民", "en": "Reply to the resident"},
    "web.item.reply_hint": {
        "zh": "写给居民的回复，会通过机器人发到居民的聊天里。",
        "en": "Your answer: the bot delivers it to the resident's chat.",
    },
    "web.item.send": {"zh": "发送回复", "en": "Send reply"},
    "web.item.resolve": {"zh": "不回复直接办结", "en": "Close without a reply"},
    "web.item.note_hint": {
        "zh": "给居民的说明（可不填；填了会发给居民）",
        "en": "Note (optional; if given, the resident is told it)",
    },
    "web.item.resolve_button": {"zh": "办结", "en": "Resolve"},
    "web.item.teach": {"zh": "教机器人", "en": "Teach the bot"},
    "web.item.teach_hint": {
        "zh": "点一下，把这句话记为该问答的另一种问法，并把答案发给居民：",
        "en": "One click adds this phrasing to the entry and sends its answer to the resident:",
    },
    "web.item.other_entry": {"zh": "其他问答", "en": "Another entry"},
    "web.item.teach_button": {"zh": "教给这条", "en": "Teach this one"},
    "web.item.new_entry": {"zh": "新建问答（草稿）", "en": "New entry (draft)"},
    "web.item.earlier": {"zh": "这位居民的其他问题和心愿", "en": "This resident's other items"},
    "web.item.no_earlier": {"zh": "没有更早的记录。", "en": "Nothing earlier."},
    "web.channel.web": {"zh": "网页", "en": "web"},
    "web.channel.telegram": {"zh": "Telegram", "en": "Telegram"},
    "web.channel.cli": {"zh": "命令行", "en": "command line"},
    "web.action.reply": {"zh": "回复了", "en": "replied"},
    "web.done.replied": {
        "zh": "回复已记录，机器人会发给居民。",
        "en": "Reply recorded: the bot delivers it to the resident.",
    },
    "web.done.resolved": {"zh": "已办结。", "en": "Resolved."},
    "web.done.taught": {
        "zh": "已教会机器人，答案已发给居民。",
        "en": "Taught: the bot now answers it, and the resident gets the answer.",
    },
    "web.done.dismissed": {"zh": "已忽略这一组。", "en": "Group dismissed."},
    "web.done.wish_status": {
        "zh": "心愿状态已更新，已通知相关居民。",
        "en": "Status changed; every resident in the pool is told.",
    },
    "web.draft.title": {"zh": "新问答草稿", "en": "Draft of a new entry"},
    "web.draft.hint": {
        "zh": "把下面这段复制到问答文件里，改好编号和答案：",
        "en": "Copy this into an FAQ file and fill in the id and the answer:",
    },
    "web.draft.answer_here": {"zh": "（在这里写答案）", "en": "(write the answer here)"},
    "web.draft.check": {"zh": "保存后运行检查：", "en": "Then check the file with:"},
    "web.review.title": {
        "zh": "问题归类：没答上的和居民说“没帮助”的",
        "en": "Review: unanswered questions and answers residents found unhelpful",
    },
    "web.review.days": {"zh": "时间范围", "en": "Period"},
    "web.review.summary": {
        "zh": "{rows} 条问题，归成 {groups} 组，条数多的在前。",
        "en": "{rows} questions in {groups} groups, biggest first.",
    },
    "web.review.truncated": {
        "zh": "（问题太多：只归类了最近的一部分，显示最大的 40 组）",
        "en": "(many questions: only the latest were grouped, the 40 biggest groups shown)",
    },
    "web.review.residents": {"zh": "{count} 位居民", "en": "{count} residents"},
    "web.review.thumbs_down": {"zh": "{count} 次说没帮助", "en": "{count} × not helpful"},
    "web.review.more": {"zh": "还有 {count} 种说法", "en": "{count} more phrasings"},
    "web.review.accept": {"zh": "教给：{question}", "en": "Teach to: {question}"},
    "web.review.other": {"zh": "教给另一条", "en": "Teach to another"},
    "web.review.dismiss": {"zh": "忽略", "en": "Dismiss"},
    "web.review.dismissed_note": {"zh": "归类时忽略", "en": "dismissed in review"},
    "web.review.empty": {
        "zh": "这段时间没有需要归类的问题。",
        "en": "Nothing to review in this period.",
    },
    "web.wishes.title": {
        "zh": "微心愿（相似的合在一起）",
        "en": "Micro-wishes (similar ones pooled)",
    },
    "web.wishes.change": {"zh": "更改心愿状态", "en": "Change the wish's status"},
    "web.wishes.note_hint": {
        "zh": "给居民的留言（可不填）",
        "en": "Note to the residents (optional)",
    },
    "web.wishes.apply": {"zh": "更改并通知居民", "en": "Change and tell the resident"},
    "web.wishes.apply_pool": {
        "zh": "更改这 {count} 个并通知居民",
        "en": "Change these {count} and tell the residents",
    },
    "web.wishes.empty": {"zh": "没有心愿。", "en": "No wishes."},
    "web.figures.title": {"zh": "统计", "en": "Figures"},
    "web.figures.received": {"zh": "收到的问题", "en": "questions received"},
    "web.figures.bot_share": {"zh": "机器人直接回答", "en": "answered by the bot"},
    "web.figures.saved": {"zh": "转给工作人员", "en": "saved for staff"},
    "web.figures.median": {
        "zh": "工作人员回复用时（中位数）",
        "en": "median time to a staff reply",
    },
    "web.figures.wishes": {"zh": "新心愿", "en": "new wishes"},
    "web.figures.answered": {"zh": "自动回答", "en": "answered"},
    "web.figures.suggested": {"zh": "给了候选", "en": "suggested"},
    "web.figures.daily": {"zh": "每天的问题", "en": "Questions a day"},
    "web.figures.topics": {"zh": "问得最多的", "en": "Asked most"},
    "web.figures.ages": {"zh": "待处理条目已等多久", "en": "Open items by age"},
    "web.figures.age0": {"zh": "不到 1 天", "en": "under 1 day"},
    "web.figures.age1": {"zh": "1–3 天", "en": "1–3 days"},
    "web.figures.age2": {"zh": "3–7 天", "en": "3–7 days"},
    "web.figures.age3": {"zh": "超过 7 天", "en": "over 7 days"},
    "web.faq.title": {"zh": "问答库", "en": "The FAQ"},
    "web.faq.count": {"zh": "共 {count} 条问答", "en": "{count} entries"},
    "web.faq.phrasings": {"zh": "{count} 种问法", "en": "{count} phrasings"},
    "web.faq.try": {"zh": "试一试：机器人会怎么答？", "en": "Try a question"},
    "web.faq.try_hint": {"zh": "输入一句居民会问的话", "en": "Type what a resident would ask"},
    "web.faq.try_button": {"zh": "试一下", "en": "Try"},
    "web.faq.score": {"zh": "得分", "en": "score"},
    "web.faq.thresholds": {
        "zh": "得分 ≥ {answer:g} 直接回答，≥ {suggest:g} 给候选",
        "en": "≥ {answer:g} answers, ≥ {suggest:g} suggests",
    },
    "web.faq.normalized": {"zh": "整理后的问题", "en": "normalised"},
    "web.faq.closest": {"zh": "最接近的问法", "en": "closest phrasing"},
    "web.error.title": {"zh": "没有找到，或者输入有误", "en": "Not found, or not valid"},
    "web.age.d": {"zh": "{n}天", "en": "{n}d"},
    "web.age.h": {"zh": "{n}小时", "en": "{n}h"},
    "web.age.m": {"zh": "{n}分钟", "en": "{n}m"},
    "web.age.now": {"zh": "刚刚", "en": "just now"},
    "web.item.closest_then": {"zh": "当时最接近的问答：", "en": "Closest entries at the time:"},
    "web.item.score_hint": {
        "zh": "右边的数字是相似度（0–100），越大越像。",
        "en": "The number is the similarity (0–100): higher is closer.",
    },
    # --- several stations in one deployment (a district): the resident's home station ---
    "home.ask": {
        "zh": "您常去哪个市民驿站？请点下面的按钮选一个，或者发个位置给我，我帮您找最近的。"
        "选好以后，开放时间、菜单和地址都按您的驿站回答。",
        "en": "Which station do you usually go to? Tap one below, or send me your location "
        "and I will find the nearest. Opening hours, menus and addresses then follow your "
        "station.",
    },
    "home.ask_first": {
        "zh": "各个驿站的时间和菜单不一样。请先选您的驿站：",
        "en": "Each station has its own hours and menu. Please choose your station first:",
    },
    "home.set": {
        "zh": "好的，您的驿站是：{name}。想换的话，发“换驿站”。",
        "en": "Done: your station is {name}. To change it, send “change station”.",
    },
    "home.nearest_set": {
        "zh": "已把{name}设为您的驿站（发“换驿站”可以更改）。",
        "en": "{name} is now your station (send “change station” to change it).",
    },
    "home.current": {
        "zh": "您现在的驿站是：{name}。",
        "en": "Your station now: {name}.",
    },
    "home.button": {"zh": "📍 我的驿站", "en": "📍 My station"},
    "home.canteens_at": {
        "zh": "有社区食堂的驿站：{names}",
        "en": "Stations with a community canteen: {names}",
    },
    "home.help": {
        "zh": "· 发“换驿站”（或点 📍 我的驿站）看看或更换您的驿站",
        "en": "· Send “change station” (or tap 📍 My station) to see or change your station",
    },
    "staffui.other_station": {
        "zh": "{ref} 属于另一个驿站，您只能查看和处理本驿站（{station}）的问题和心愿",
        "en": "{ref} belongs to another station; you can only see and act on items of your "
        "station ({station})",
    },
    "staffui.station_label": {"zh": "驿站：{name}", "en": "Station: {name}"},
    "web.review.no_match": {
        "zh": "没有很像的问答，请在右边选一条，或者忽略。",
        "en": "No close entry: choose one, or dismiss.",
    },
}


def t(key: str, lang: str | None, **values: object) -> str:
    """Return message `key` in `lang` (Chinese when unknown), with `{name}` fields filled in."""
    variants = MESSAGES[key]
    text = variants.get(lang or DEFAULT_LANGUAGE) or variants[DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


def has(key: str) -> bool:
    """True when the catalogue has `key` (channel-specific variants are optional)."""
    return key in MESSAGES


def all_variants(key: str) -> set[str]:
    """Every language's text of `key`: recognises a button label whatever language it was in."""
    return set(MESSAGES[key].values())
