"""Decides, for one resident message, whether to answer from an FAQ entry, suggest, or pass it on.

Every entry gets a score from 0 to 100 (see docs/benchmarks.md, "Score scale"): a blend of
TF-IDF similarity to its nearest alternate question and to the entry as a whole, a naive-Bayes
and a logistic-regression posterior among entries, and a rapidfuzz edit similarity, scaled down
when the message has salient words the entry never uses (肯德基几点开门 is not about the canteen).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from rapidfuzz import fuzz, process
from scipy import sparse

from faq.model import LANGUAGES, KnowledgeBase, MatchResult
from faq.normalize import (
    CJK,
    EN_STOPWORDS,
    LATIN_LETTER,
    ZH_STOPCHARS,
    Normalizer,
    cjk_pinyin,
    is_cjk,
    pinyin_reading,
    pinyin_syllables,
    tokens,
)

# Documented defaults (docs/benchmarks.md); config's `matching:` overrides them, and a
# knowledge base's own `settings:` override config.
DEFAULT_THRESHOLDS = {
    "answer_threshold": 26.0,  # best score needed to answer outright
    "suggest_threshold": 18.0,  # best score needed to offer "did you mean" buttons
    # 0..100: how strictly the message's salient words must be ones the entry uses. At s, an
    # entry covering a share c of them has its score multiplied by 1 - s/100 * (1 - c), and is
    # never answered outright below 0.6 * s/100. A small hand-written FAQ wants it high
    # (肯德基几点开门 is not about the canteen); a large intent set full of slot words ("how do
    # you say fly in italian") wants it low. Above 0 it also turns on the place rule (PLACE_HEADS).
    "coverage_strictness": 80.0,
}
MIN_COVERAGE_AT_FULL_STRICTNESS = 0.6
# The place rule (docs/benchmarks.md, "Places and organisations"): a message that names a place
# or organisation is answered outright only by an entry about that place. A place is named by a
# head word (银行, 图书馆, the 站 of 菜鸟驿站, "library", "post office") and the words right before
# it that say which one (菜鸟驿站, 学校食堂, "university canteen"). The longest part of the mention
# ending in the head that the entry's questions or keywords contain (the head as written, the
# words before it by sound, so 易站 is 驿站 but 金店 is not 今天), or that is one of the knowledge
# base's home places (named by at least HOME_SHARE of its entries: 驿站, 食堂, "station"), is
# the place the entry knows. The words before that part (the last PLACE_MODIFIER_WORDS characters,
# or words in English) must then be absent, words the entry uses, a home place (驿站食堂), or end
# in a character that says where or when rather than which (门口驿站, 期间驿站: PLACE_LOCATORS).
# Anything else names another place: 菜鸟驿站, 单位食堂, 五金店, "the bank".
PLACE_HEADS_ZH = (
    "银行|超市|商场|菜场|市场|公司|学校|大学|中学|小学|医院|药房|诊所|中心|派出所|事务所|托儿所"
    "|居委会|基金会|委员会|总会|协会|工会|十字会|办事处|管理处|俱乐部|食堂|网点|快递点"
    "|早市|夜市|菜市|站|馆|院|局|店|厅|园|城|场|校|厂"
    # the utilities' bills are theirs as their offices are (电费怎么在支付宝上交), and the
    # buses' and trains' times the transport company's (驿站门口那个公交站末班车几点)
    "|电费|水费|燃气费|煤气费|话费|物业费|网费|有线费|末班车|首班车|班车"
)
# measure words end the words before a place as grammar characters do (几家市民驿站), and so do
# prepositions, the predicates a spoken line runs into the next clause with (可以跟驿站反映,
# 血压有点高驿站能量吗, 没人管驿站有没有) and the verbs of saying that open reported speech
# (听邻居讲驿站可以许心愿), and Shanghainese 额 (的: 最近额驿站)
PLACE_BREAKS = frozenset("家座栋间条跟同向往离管跑贵高慢说讲额")
_PLACE_HEADS_EN = """bank library office hospital clinic school university college kindergarten
supermarket market shop store mall restaurant cafe canteen park museum cinema gym pool court
station hall centre church temple hotel airport pharmacy salon company foundation charity committee
agency bureau department embassy consulate garden zoo stadium theatre branch"""
PLACE_HEADS_EN = frozenset(_PLACE_HEADS_EN.split())
PLACE_MODIFIER_WORDS = 2
HOME_SHARE = 0.1
# (道 and 区 as in 嘉兴路街道, 虹口区: an area says where, not which)
PLACE_LOCATORS = frozenset("边面近下口里上前后头壁对间期天日节年月周末午晚早时路道区")
_WEEKDAY = re.compile("[拜期周][一二三四五六七日天]$")  # says when too: 礼拜五食堂有鱼吗
# An area (a district, a subdistrict, a town) before a place says where, but where is ours only
# when the knowledge base names that area: 虹口区的驿站 and 嘉兴路街道的食堂 are ours, 杨浦区的驿站
# and 隔壁街道的食堂 another's. The knowledge base's areas are the words ending in these in its
# questions, keywords and answers (the words before a place are cut short: 浦区 is no end of any)
_AREA = re.compile(f"[{CJK}]{{1,5}}?(?:区|街道|镇)")
_AREA_END = re.compile("(?:区|街道|镇)$")
AREA_NAME = 3  # characters of an area's name read besides PLACE_MODIFIER_WORDS
MAX_SUGGESTIONS = 3
MAX_CANDIDATES = 5
MAX_QUERY_CHARS = 500  # a run-on message is matched on its first 500 characters
FUZZ_CANDIDATES = 40  # alternate questions (best by TF-IDF) that get an edit-distance score
CHUNK = 256  # queries scored together: bounds the dense query x question matrix
CHAR_NGRAMS = (3, 4)  # English character n-grams (5-grams measured no better, and slower)
# the load-time classifier: word-level features only (words, word pairs, character and pinyin
# pairs), a few epochs of minibatch SGD; skipped above CLASSIFIER_MAX_ENTRIES entries
CLASSIFIER_FEATURES = "wxbqr"
CLASSIFIER_EPOCHS = 5
CLASSIFIER_MAX_ENTRIES = 1000
CLASSIFIER_BATCH = 256
CLASSIFIER_RATE = 8.0
CLASSIFIER_MOMENTUM = 0.9


# Fraud precedence (docs/benchmarks.md, "Fraud warning first"). Elderly residents ask the bot
# about calls and messages that are scams; such a message is answered with FRAUD_ENTRY whatever
# else it names (驿站, 基金会, 补贴, 养老金 are a scammer's favourite pretexts). The cues are data:
# regular expressions over normalised text (Simplified, casefolded, synonyms applied: 钞票 -> 钱,
# 付款 -> 付钱, 补贴 -> 补助), of four kinds. A message describes a fraud when it has a `scam`
# cue (words and scripts no honest caller uses), or cues of two of the other three kinds: a
# `source` (someone called, texted, came to the door, claims to be...; or the resident asks
# whether it is real), a `bait` (a prize, a refund, money paid out, returns, a cure, trouble to
# fix) and a `demand` (money, fees, transfers, codes, card numbers, passwords, links, apps).
# One kind alone is an ordinary question: 捐款可以转账吗, 有人上门量血压吗, 课是免费的吗.
# Besides, the warning is never merely suggested: when it is the best-scoring entry at the
# suggest threshold, it is answered, unless the message is the resident's own trouble with a
# card, code or password and no one asks for it (own_errand: 验证码收不到), when it is no
# candidate at all.
FRAUD_ENTRY = "safety.fraud"
# someone (有人打电话), not someone who could help or is needed (有人能教我, 需要有人照顾): a
# source, and a stranger (see _STRANGER)
_SOMEONE = r"有(?<!没有)人(?![能会吗伐在值接陪教帮可照看])"
FRAUD_CUES: dict[str, tuple[str, ...]] = {
    "scam": (
        r"诈骗|骗子(?![很太蛮老真]?多)|骗局|被骗|骗钱|骗人|骗[她他我]|防骗|反诈|冒充|盗用|冒用|被人冒|盗刷",
        r"转接.{0,3}(公安|警察|派出所|检察)",
        r"安全[账帐]|监管[账帐]|指定[账帐]|备用金|洗钱|传票|涉嫌|违禁品|通缉|征信|刷单|翻倍|虚拟货币|比特币",
        r"数字货币|他给的[账帐]|她给的[账帐]|保护起来|不.{1,4}就.{0,4}(不能用|停|取消|作废|冻结|影响|扣)",
        r"不要挂|别挂|按.{0,3}说的(做|操作)|共享屏幕|屏幕共享|猜猜?我是谁|猜.{0,3}是谁|出车祸|冻结",
        r"包治|治百病|根治|不用吃药|抗癌|抗肿瘤|防癌|稳赚|保本|高回报|高息|返利|年化",
        r"百分之[一二三四五六七八九十几]+[的]?(回报|收益|利息)",
        r"[转汇打存].{0,6}[个私]人[账帐]",
        r"个人[账帐]户?[上里]|私人[账帐]户?[上里]|不[能要许准]告诉",
        r"代替.{0,4}药",
        # a gift for scanning a code (扫码送鸡蛋), a recorded call's "press 1 for an operator"
        r"扫.{0,2}码.{0,4}[送领拿].{0,4}(鸡蛋|米|油|礼|面|纸巾|盆|锅|伞|老花镜)|扫.{0,2}码.{0,3}免费",
        r"免费[送领拿].{0,8}扫.{0,2}码|白[送领拿].{0,8}扫.{0,2}码",
        r"按.?[0-9一二九零]号?键?(转|进入|人工|咨询)",
        # a ransom, and money paid out once a fee is paid first (先交手续费就到账)
        r"绑架|绑票|赎金|先[交付缴].{0,10}费.{0,4}(就|才|再)?(能|可以|会)?(到账|领|发|拿)",
        r"\bscam|\bfraud|\bcon (man|artist)|\bcheat|\bswindl|\b(safe|supervision) account",
        r"\bguess who|\bmoney launder|\bcourt (notice|summons)|\barrest warrant|\bsummons",
        r"\bdon'?t hang up|\bscreen shar|\bcredit (score|record)|\bguaranteed|\bcooperate with",
        r"\bshar\w* (my |your |his |her |the )?screen",
        r"\bpress (1|one|9|nine)\b.{0,25}\b(operator|agent|service|staff|person|speak|talk)",
        r"\bscan\w*\b.{0,25}\bfor (a )?free\b",
        r"\bidentity (theft|stolen)|\bcrypto|\bbitcoin|\bbuy back|\bdouble my",
        r"\bunless (i|you|we|she|he)\b|\bor else\b|\bwill stop working",
        r"\bwill be (closed|cancel|suspend|blocked)",
        r"\b(account|assets|card|savings|money)\b.{0,20}\bfr(ozen|eeze)",
        r"\bfr(ozen|eeze)\b.{0,20}\b(account|assets|card|savings|money)",
        r"\b\d+ (yearly|annual|monthly) (returns?|profits?)|\bcures?\b|\bmiracle",
        r"\b(promis|guarant)\w*\b.{0,30}\b(returns?|profits?)\b",
        r"\bprevents? cancer",
        r"\bcar (accident|crash)|\bbail\b|\b(personal|private) account|\bnot (to )?tell anyone",
        r"\bdon'?t tell (anyone|your)|\b(replace|instead of)\b.{0,20}\bmedicine",
    ),
    "source": (
        _SOMEONE + r"|有一?[个位](人|男|女|小|老|阿|号|电|自|陌)|个电话|通电话",
        r"打(?<!快递打)(?<!快递员打)电话(?!给(?![我伊她他侬阿]))|打来|电(?<!快递打电)(?<!快递员打电)话[说讲来里那]|来电|短(?<!验证码短)信(?!验证码)|网上(?!(?:可以|能|也可以|给\w{1,6}?)?[捐买交缴办申预挂查付支看])|网(?<!基金会网)(?<!官方网)站|微信[上里群说讲]|加我|qq|朋友圈|群里",
        r"弹出|视频|自称|说是(?![要会])(?=.{0,12}的)|讲是(?![要会])(?=.{0,12}的)|他们?[说讲]|她们?[说讲]",
        r"伊拉?讲|说我|讲我|的说|对方|陌生|客服(?!电话|热线)|推销|讲座",
        r"上门[说讲收推卖]|问我[要借拿]|跟我[要借拿]|向我[要借拿]|找我[要借拿]",
        r"[叫让要催逼喊](?<!它.)\s?[我伊她他].{0,5}(转(?!存)|汇|打钱|交|付|报|输|告诉|发|点|下载|扫|买|借|寄|登录|开通)",
        r"说(?<!家人说)有|讲(?<!家人讲)有|是真的|是不是真|真的假的|有这回事|有这种事|人家[说讲]|一个[男女]的|导游",
        r"人(?<!家人)[说讲]|卖.{0,4}(药|保健)|好相信|能相信|收到.{0,4}(信息|消息|通知|邮件|链接|短信)",
        r"拉.{0,3}进群|门口.{0,8}(送|发|扫|摆摊)",  # and a stall at the gate
        # "someone called", not "someone can help" or "someone recommended the station"
        r"\bsome ?(one|body)\b(?! (can|could|to|help|at|there|who|here|in|mentioned"
        r"|recommended|suggested)\b)",
        r"\ba (man|woman|guy|lady|caller|stranger)|\bcaller|\bcalled (me|saying)",
        r"\bcall(s|ed)? from|\brang\b|\bphone call|\bgot a call|\btexts?\b|\btexted|\bsms",
        r"\bmessage(d|s)?\b|\bpop ?up|\bwebsite|\bvideo call",
        # "a man called saying", not "my friends keep saying"
        r"\b(call(ed|s)?|rang|phoned|text(ed|s)?|came|wrote|emailed|man|woman|guy|lady)\b"
        r".{0,30}\b(saying|says)\b",
        r"\b(they|he|she|it|caller|man|woman|guy|lady|someone|somebody) (says|said)\b",
        # "he says I won", not "my accountant says I need"
        r"\b(he|she|they|caller|someone|somebody|service|bank|police|officer|agent|official|man"
        r"|woman|guy|lady) (says|said) (that )?(my|i|i'm|we|you|your|me)\b",
        r"\bclaims? (that )?(my|i|i'm|we|you|your|me)\b|\btold me|\basked me",
        r"\bwant(s|ed)? (me|my|him|her|us)\b|\bask(s|ed|ing)? (me )?for (my|your)",
        # "claiming to be from the bank", "click to claim your prize" (not "a receipt to claim
        # the deduction")
        r"\bclaim(s|ed|ing)? (to|that|he|she|they|it'?s)\b",
        r"\bto claim (your|my|his|her|their|a|it now)\b",
        r"\bpretend|\b(was|were) told|\bmet online|\bonline (friend|wants|says|said)|\boffered",
        # a company that calls, not the resident's own or the building's
        r"\b(?<!my )(?<!our )(?<!property )(?<!management )company",
        r"\bpos(ed|ing) as|\bdoor|\bseminar|\bsalesman",
        r"\bs(old|ell|elling|ells)\b",
        r"\bwechat account|\bis (it|this|that) (real|true|legit|genuine|ok(?! to))",
        r"\breally (ask|want|need|call)|\bshould i (give|pay|send|transfer|buy)",
        r"\b(on|over) the phone|\bcalls? asking|\basking for (my|her|his|your|their)",
        r"\bcalled (and|to)\b",
        r"\b(friend|someone|somebody|contact|man|woman|stranger) on wechat\b|\badded me\b",
        r"\b(says?|said|told me) (that )?(i|i've|we) (won|have won|qualif)",
    ),
    "bait": (
        r"中奖|抽中|中了|大奖|奖品|礼品|免费[送领拿发游办]|送.{0,4}(米|油|鸡蛋|礼|老花镜)|补发",
        r"退税|退[款钱回还]|返[现利佣]|理赔|赔偿|额度|收益|利息|回报|投资|理财|炒股|赚|能治|治好",
        r"降血[糖压脂]|保健|红包|幸运|旅游|吃.{0,6}就[能会]?好了|喝.{0,6}就[能会]?好了",
        r"用.{0,6}就[能会]?好了|贴.{0,6}就[能会]?好了|戴.{0,6}就[能会]?好了",
        r"灵芝|孢子粉|神药|偏方|养老项目|养老公寓",
        r"津贴|慰问金|认证|升级|异常|注销|欠费|出事|救我|被扣|被抓|贷款|罚款|违规|停发|多发|停电",
        r"停水|欠了|股票|换.{0,2}号|急用",
        r"\bwon\b|\bwin(ner|ning)?\b|\bprize|\blottery|\bjackpot",
        r"\bfree (gift|rice|eggs?|oil|glasses|trip|travel|tour|lunch|meal)|\bgift|\brefund",
        r"\bcompensat|\bback ?pay|\bcredit limit|\breturns?\b|\bprofit|\binterest\b|\binvest",
        r"\bstocks?\b|\bcure|\btherapy|\bhealth product|\bsupplement|\bsuspend|\bexpired?",
        r"\bproblem with|\bhas a problem|\bunpaid|\bloan\b|\bfine\b|\bsave me\b|\barrested|\bheal",
        r"\bstolen|\bpolice\b|\bblocked|\b(is|was|in|into) (the )?hospital|\boverpaid",
        r"\blocked up|\bin jail|\bdetained|\bkidnap",
        r"\bnew account",
    ),
    "demand": (
        r"转[账帐钱]|转出去|转到(?!人工)|转给|转过去|打钱|打款|汇钱|汇款|汇过去|寄钱",
        r"[要交给拿借付赔](?<!不.)钱",
        r"钱[转汇打给交]|转.{0,3}钱|退回去|还回去|代付|垫付|先[交付](?!材料|资料|申请|表|证明)",
        r"交给?(他|她|伊)|拨给?(他|她|伊)|钱.{0,4}给(他|她|伊)|卡.{0,4}给(他|她|伊)",
        r"存折.{0,4}给(他|她|伊)|现金.{0,4}给(他|她|伊)",
        r"[交付收扣](?!.{0,5}(?:话|电|水|燃气|煤气|物业|网|有线)费).{0,6}费",
        r"手续费|保证金|押金|交.{0,5}税|付.{0,5}税|缴.{0,5}税|所得税",
        r"[取拿交给送收].{0,3}现金",
        r"验证码|密码|卡号|银行卡|银行[账帐]户|存款(?!转成?定期)|存折|余额|身份证号",
        # a photo of the ID card, the code the phone just received
        r"身份证(?:正反面|照片)|拍.{0,3}身份证|手机上.{0,6}[的额]码|收到的.{0,3}码",
        r"填.{0,4}信息|个人信息|链接|连接|点进去|点击|短信[里上]的|atm|手机银行|网银|用钱|扫码|定金",
        r"订金|会员费|存到(?!手机|通讯录)|存进|二维码|下载|开通|收了我|收了.{0,2}[一二两三四五六七八九十几百千\d]",
        r"买.{0,6}(保健品|万|股票|基金(?!会))|办卡|投资|理财",
        r"[一二两三四五六七八九十几百\d][一二两三四五六七八九十几百\d]*[块千万元]",
        r"[交付给收要][一二两三四五六七八九十几]+百",
        r"\btransfer|\bwire\b|\bsend (me |them |him |her )?(the )?money|\bmoney\b|\bfees?\b",
        r"\b(?<!can't )(?<!cannot )(?<!unable to )pay",  # "he can't pay his rent" is no demand
        r"\b(?<!fixed )deposit|\b(?<!pickup )(?<!pick-up )code\b|\bpassword|\bpin\b",
        r"\bcard (number|no|details)|\bid number",
        r"\bcard (info|num)|\bbank (card|details|info|account)|\bcollect(ed|ing|s)?\b",
        r"\b(costs?|for) \d+|\blink\b|\bclick|\bdownload|\bapp\b|\bborrow",
        r"\bgive (him|her|them)\b|\b(?<!you )give me\b|\bcharged?",
        r"\b(in|withdraw|hand|bring|collect(ed|ing)?) (\w+ )?cash\b|\bhand (it )?over",
        r"\bmove (the |my |his |her |your )?money|\bneed(s|ed)? (cash|money)|\blog ?in",
        r"\baccount (details|number|info)|\bbuy(ing)?\b|\b\d+ ?(yuan|rmb|kuai)\b|\bsavings",
        r"\btax(?! (deduct|purpose|receipt|relief|benefit))",
        r"\bverify",
    ),
}


def _searched_with(cue: str) -> str:
    """Which cue lines of its kind a cue line is searched with (see _FRAUD_RE)."""
    if cue.startswith(r"\b"):
        return "english"
    return cue if cue.startswith("[") else "chinese"  # a line that opens with a class: alone


def _alternatives(pattern: str) -> list[str]:
    """A pattern's alternatives at its top level (outside groups and classes)."""
    found, depth, in_class, start, i = [], 0, False, 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1  # an escaped character
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "|" and not depth:
            found.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*found, pattern[start:]]


def _opening_letter(alternative: str) -> list[str]:
    """An English alternative as alternatives that open with their first letter, where it opens
    with a group of words or with look-behinds: the group written out for each of its words
    (`(safe|supervision) account`: `safe account`, `supervision account`), the look-behinds (of
    plain words) put behind the first word (`(?<!can't )pay`: `pay(?<!can't pay)`). They match
    what it matches, and in the same order (test_english_fraud_cues_match_as_their_lines_do)."""
    if alternative.startswith("(?<!"):
        behind = []
        while alternative.startswith("(?<!"):
            end = alternative.index(")")
            behind.append(alternative[4:end])
            alternative = alternative[end + 1 :]
        word = re.match("[a-z]*", alternative).group()  # type: ignore[union-attr]
        if not word:
            return ["".join(f"(?<!{b})" for b in behind) + alternative]
        return [word + "".join(f"(?<!{b}{word})" for b in behind) + alternative[len(word) :]]
    if alternative.startswith("(") and not alternative.startswith("(?"):
        end, depth = 0, 1  # where the group opened at 0 closes
        while depth:
            end += 1
            depth += {"(": 1, ")": -1}.get(alternative[end], 0)
        rest = alternative[end + 1 :]
        if "\\" not in alternative[:end] and rest[:1] not in ("?", "*", "+", "{"):
            words = _alternatives(alternative[1:end])
            return [found for word in words for found in _opening_letter(word + rest)]
    return [alternative]


def _by_first_letter(alternatives: list[str]) -> str:
    """Alternatives as one, those that open with the same letter under it (`s(?:cam|windl)`), in
    their order: `re` tries each alternative that opens with a plain character only where that
    character is, but tries them one after the other, so one per letter is tried per word rather
    than every alternative. (A position's letter is the first letter of no other group's
    alternatives, so the first alternative to match there is the same.)"""
    groups: dict[str, list[str]] = {}
    for alternative in alternatives:
        first = alternative[0] if alternative[:1].isalpha() else alternative
        groups.setdefault(first, []).append(alternative)
    return "|".join(
        rests[0] if len(rests) == 1 else f"{first}(?:{'|'.join(a[1:] for a in rests)})"
        for first, rests in groups.items()
    )


def _cue_patterns(cues: tuple[str, ...]) -> tuple[tuple[re.Pattern[str], bool], ...]:
    """One kind's cues as the patterns of _FRAUD_RE, each with whether it is the English one."""
    patterns = []
    for searched_with, lines in itertools.groupby(cues, _searched_with):
        alternatives = "|".join(lines)
        if searched_with == "english":
            # every alternative opens a word (\b) with a latin letter or a digit: looked for
            # first, once for them all, `re` enters them only there (Chinese text has a word
            # boundary at every space) and, by their first letters, only the ones that open
            # with the word's
            words = [
                found
                for alternative in _alternatives(alternatives)
                for found in _opening_letter(alternative.removeprefix(r"\b"))
            ]
            alternatives = rf"\b(?=[a-z\d])(?:{_by_first_letter(words)})"
        patterns.append((re.compile(alternatives), searched_with == "english"))
    return tuple(patterns)


# Each kind's cues as patterns searched in turn, in the cues' order: its English lines (`\b` then
# a latin letter or a digit in every alternative) as one, searched only in text that has such a
# character (in Chinese text `re` would try each English alternative at every position: five
# times the cost of the rest); each Chinese line that opens with a class as one of its own, and
# the Chinese lines between them as one. Each Chinese alternative opens with a plain character
# (one that would open with a look-behind, a group or a class is written out for each character
# it opens with, or opens a line of its own): `re` then tries a pattern only where one of its
# first characters is, rather than every alternative at every position (a tenth of the cost).
# The first match of a kind is the earliest of its patterns' first matches, the earlier
# pattern's at the same position: the first match of all its cues.
_FRAUD_RE = {kind: _cue_patterns(cues) for kind, cues in FRAUD_CUES.items()}
_LATIN_OR_DIGIT = re.compile(r"[a-z\d]")


def _fraud_hits(normal: str) -> dict[str, re.Match[str]]:
    """The first match of each kind of fraud cue in normalised text."""
    found = {}
    latin = _LATIN_OR_DIGIT.search(normal) is not None
    for kind, patterns in _FRAUD_RE.items():
        hits = [pattern.search(normal) for pattern, english in patterns if latin or not english]
        hits = [hit for hit in hits if hit is not None]
        if hits:
            found[kind] = min(hits, key=lambda hit: hit.start())
    return found


def fraud_cues(normal: str) -> dict[str, str]:
    """The fraud cues found in normalised text, by kind (the first match of each)."""
    return {kind: hit.group(0) for kind, hit in _fraud_hits(normal).items()}


# A resident's own money for their family (synonyms.yaml writes 儿子, 外孙 ... as 家人): 给外孙
# 发个红包, 儿子说要结婚 我想给他转五万块, 外甥问我借钱 利息要不要算; or the family telling them
# how to pay (女儿让我用手机交电费). Such a message is no fraud without a scam cue, a bait other
# than the red packet or the loan's interest (孙子打电话说被抓了 要我转钱给他: 被抓), a stranger
# (有人打电话说是我孙子) or a call or message (孙子打电话让我转钱给他同学). The family is named
# (家人) or the money is what one gives one's family
_FAMILY_GIFT = re.compile(r"[发包送].{0,8}红包|零花钱|压岁钱|生活费|学费|彩礼|份子钱")
_FAMILY_BAITS = frozenset({"红包", "利息"})
# the resident's own doing: 我自己在网上买的, "logging into his own account"
_OWN_DOING = re.compile(r"[我他她伊]自己|亲自|\b(my|his|her|our) own\b|\b(my|him|her)self\b")
# a parcel the family sends or buys (女儿从国外给我寄保健品 要交税吗, "sending my parents a gift"):
# whatever it holds is no bait
_FAMILY_PARCEL = re.compile(
    r"家人.{0,12}(寄|网购|代购|带)|(寄|带)给家人"
    r"|\b(send|sending|sent|posting|ship|shipping)\b.{0,12}\b(my|our) (parents?|mum|mom|dad|father"
    r"|mother|son|daughter|grand\w+|family)\b"
)
_CONTACTED = re.compile(
    r"电话|来电|短信|[发来]\w{0,2}[消信]息|微信[上里]?[说讲让叫要发]|视频|qq|\bcall|\btext|\bmessage"
)
_STRANGER = re.compile(
    _SOMEONE + r"|有一?[只个位][人男女]|陌生|自称|对方|(?<!家人)[说讲]是(?=.{0,12}的)|一个[男女]的"
    r"|\bsome(one|body)|\bstranger"
)


# Baits that are trouble to fix (an arrears notice, an account to verify or unblock) or what the
# resident is owed anyway (a pension's back pay) rather than money to gain: a real bill, bank
# notice or pension rise says as much, so such a bait counts only with a demand (收到电力公司的
# 短信提醒我欠费 is a notice, 听人家讲养老金要涨 几月份补发 a question; 短信说我欠费了 要点链接交钱
# and 短信说养老金有补发 点链接领取 are frauds)
_TROUBLE = re.compile(
    r"认证|升级|异常|注销|欠费|出事|被扣|罚款|违规|停发|停电|停水|欠了|换.{0,2}号|补发"
    r"|problem with|has a problem|unpaid|suspend|expired?|blocked|fine|new account|back ?pay"
)


def _windfall(normal: str) -> bool:
    """Whether a bait of normalised text is more than trouble to fix (see _TROUBLE)."""
    # (the Chinese baits open with plain characters: one pattern, its matches theirs)
    found = [hit for pattern, _ in _FRAUD_RE["bait"] for hit in pattern.finditer(normal)]
    return any(not _TROUBLE.fullmatch(hit.group(0)) for hit in found)


# fraud as what one learns to avoid (教老人防诈骗, 识别诈骗电话, the police's 反诈 app): a message
# about learning it, volunteering or a class names it without reporting one; its scam cues then
# count for nothing (怎么防诈骗 still finds the warning by its questions)
_AGAINST_FRAUD = re.compile(
    "(?:防范?|预防|识别|反)(?:诈骗|骗子?)|反诈|\\b(?:anti|avoid\\w*|spot\\w*)[ -](?:fraud|scams?)"
)


def _against_fraud_only(normal: str) -> bool:
    """Whether every scam cue of normalised text is in words against fraud (_AGAINST_FRAUD)."""
    against = [hit.span() for hit in _AGAINST_FRAUD.finditer(normal)]
    if not against:
        return False
    scams = [hit.span() for p, _ in _FRAUD_RE["scam"] for hit in p.finditer(normal)]
    return all(any(a <= start and end <= b for a, b in against) for start, end in scams)


def describes_fraud(normal: str) -> bool:
    """Whether normalised text describes a fraud (see FRAUD_CUES): a scam cue, or two of
    someone asking, a bait and a demand for money or credentials (and not merely money the
    resident gives their family: see _FAMILY_GIFT)."""
    hits = _fraud_hits(normal)
    if "scam" in hits and _against_fraud_only(normal):
        del hits["scam"]
    if "scam" in hits:
        return True
    if "bait" in hits and "demand" not in hits and not _windfall(normal):
        del hits["bait"]
    # cues of two kinds in one phrase are one cue (急用钱 is a bait and a demand)
    spans = sorted(hit.span() for hit in hits.values())
    if sum(start >= end for (_, end), (start, _) in itertools.pairwise(spans)) < 1:
        return False
    stranger = _STRANGER.search(normal) is not None
    contacted = _CONTACTED.search(normal) is not None
    # and a fraud needs a fraudster: someone who called, wrote, came or claims (a bait and a
    # demand alone are the resident's own errand: 去哪个银行汇钱手续费便宜, 彩票中了五块钱去哪里兑)
    if "source" not in hits and not stranger and not contacted:
        return False
    # the resident's own doing is no fraud without a stranger in it
    if _OWN_DOING.search(normal) and not stranger:
        return False
    bait = hits["bait"].group(0) if "bait" in hits else None
    parcel = _FAMILY_PARCEL.search(normal) is not None
    family = ("家人" in normal or parcel or _FAMILY_GIFT.search(normal)) and not contacted
    ordinary = bait is None or bait in _FAMILY_BAITS or parcel
    return not (ordinary and family and not stranger)


# The resident's own trouble with a card, code or password: forgotten, lost, not received, to
# reset or replace (银行卡密码忘了怎么办, 验证码收不到, "I forgot my PIN")
_OWN_TROUBLE = re.compile(
    r"忘|丢|收不到|没收到|挂失|重置|找回|修改|补办|锁了|被锁"
    r"|\bforg[eo]t|\blost\b|\breset|\blocked\b|\breplace"
    r"|\b(not|n'?t|never) (been |yet )?(get|got|receiv|c[oa]me|arriv)"
)


def own_errand(normal: str) -> bool:
    """Whether normalised text is about the resident's own trouble with a card, code or
    password (银行卡密码忘了怎么办, "verification code not received"): demands are its only fraud
    cues, with no one in it to make them, and it says what went wrong. The fraud warning's
    questions share those words (有人要我的银行卡号和密码), but there is no one to warn about;
    who asks for a code is (驿站会要验证码吗)."""
    hits = _fraud_hits(normal)
    return (
        hits.keys() == {"demand"}
        and _STRANGER.search(normal) is None
        and _OWN_TROUBLE.search(normal) is not None
    )


@dataclass(frozen=True)
class Weights:
    """How the channels blend into one 0..1 similarity (they sum to 1)."""

    nearest: float = 0.23  # cosine to the closest alternate question
    centroid: float = 0.17  # cosine to all of the entry's questions and keywords together
    bayes: float = 0.17  # naive-Bayes posterior among entries: does this entry stand out?
    classifier: float = 0.33  # logistic regression trained on the questions at load time
    fuzz: float = 0.10  # rapidfuzz ratio on pinyin (zh) / sorted words (en)
    bayes_alpha: float = 0.02  # additive smoothing of the naive-Bayes word counts
    bayes_temperature: float = 1.0  # lower = more decisive posterior


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Crude English suffix stripping: "opens", "opened", "opening" -> "open"."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@dataclass
class _Analysis:
    """One normalised text: features for the vector space, units for coverage, a fuzz string."""

    features: list[str]
    units: list[tuple[str, tuple[str, ...]]]  # (weight feature, features that cover it)
    fuzz_text: str
    # places and organisations named: (words before, head), as units of _place_units
    places: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    context: frozenset[int] = frozenset()  # units that are context, not the question
    dictated: bool = False  # a view of a long message (see DICTATED_MARGIN)
    question: bool = False  # one clause of it, a question (INTERROGATIVES)


def _pinyin_units(
    syllables: list[str], features: list[str], units: list[tuple[str, tuple[str, ...]]]
) -> None:
    features.extend("p" + s for s in syllables)
    pairs = ["q" + a + " " + b for a, b in itertools.pairwise(syllables)]
    features.extend(pairs)
    for i, syllable in enumerate(syllables):
        around = tuple(pairs[max(0, i - 1) : i + 1]) or ("p" + syllable,)
        units.append(("p" + syllable, around))


_CjkParts = tuple[list[str], list[tuple[str, tuple[str, ...]]], str, list["Place"]]


class _CharacterFeatures(dict[str, tuple[str, str, str]]):
    """Each CJK character's reading and its features of one character: its fuzzy syllable, "u"
    and the character, "p" and the syllable. Made once for each character, as its reading is
    (cjk_pinyin), and interned, as the vocabulary's words are (_Space): a message's features of
    one character are then strings whose hash is known, and the vocabulary finds each as its
    own key, rather than strings made, hashed and compared anew for every message."""

    def __missing__(self, char: str) -> tuple[str, str, str]:
        (syllable,) = cjk_pinyin(char)
        found = self[char] = (syllable, sys.intern("u" + char), sys.intern("p" + syllable))
        return found


_CHARACTER_FEATURES = _CharacterFeatures()
_syllable, _character, _sound = (operator.itemgetter(i) for i in range(3))


def _cjk_run(token: str, places: bool = True) -> _CjkParts:
    """What one CJK run gives a text's analysis: its features (characters, bigrams, pinyin and
    pinyin pairs), its coverage units, its fuzz string and the places it names (none looked for
    unless `places`)."""
    # built over whole runs: a long message has a few hundred characters, each giving several
    # features. Pairs are joined in C (map, zip and join, a third faster than comprehensions)
    each = list(map(_CHARACTER_FEATURES.__getitem__, token))
    syllables = list(map(_syllable, each))
    chars = list(map(_character, each))
    bigrams = list(map("".join, zip(itertools.repeat("b"), token, token[1:])))
    space = itertools.repeat(" ")
    pairs = list(map("".join, zip(itertools.repeat("q"), syllables, space, syllables[1:])))
    features = [*chars, *bigrams, *map(_sound, each), *pairs]
    units: list[tuple[str, tuple[str, ...]]] = []
    if len(token) == 1:
        if token not in ZH_STOPCHARS:
            units.append((chars[0], (chars[0], _sound(each[0]))))
    else:
        # a character is covered by the bigrams and pinyin pairs it is part of: the first and
        # the last by one each, the others by the ones before and after them
        covers = [
            (bigrams[0], pairs[0]),
            *zip(bigrams[:-1], bigrams[1:], pairs[:-1], pairs[1:], strict=True),
            (bigrams[-1], pairs[-1]),
        ]
        units = [
            (feature, cover)
            for char, feature, cover in zip(token, chars, covers, strict=True)
            if char not in ZH_STOPCHARS
        ]
    named = _zh_places(token, syllables) if places and _PLACE_HEAD_ZH.search(token) else []
    return features, units, "".join(syllables), named


Place = tuple[tuple[str, ...], tuple[str, ...]]  # (units before the head, units of the head)


# What a text's latin words give its analysis: features, the units of the words that are no
# stopwords (each with the word's index), places, a fuzz string. The views of a long message
# share its latin words (a last clause in English is in the whole message and in a pair too), so
# a message works them out once for all its views (a cache per message: see _match_chunk)
_LatinParts = tuple[
    tuple[str, ...], tuple[tuple[int, tuple[str, tuple[str, ...]]], ...], tuple[Place, ...], str
]


def _plain_word(word: str) -> str:
    """A latin word as it is analysed: what's -> what, i'd -> i ('s stays)."""
    return word.split("'")[0] or word


def _latin_words(words: tuple[str, ...]) -> _LatinParts:
    """What the latin words of a text give its analysis (see analyse and _LatinParts)."""
    words = tuple(map(_plain_word, words))
    stems = [_stem(w) for w in words]
    features = ["w" + s for s in stems]
    features += ["x" + a + " " + b for a, b in itertools.pairwise(stems)]
    joined = " " + " ".join(words) + " "
    for n in CHAR_NGRAMS:
        # "c" and the n characters from each position: joined in C, a third faster than slices
        features += map("".join, zip(itertools.repeat("c"), *(joined[i:] for i in range(n))))
    units = tuple(
        (i, ("w" + stem, ("w" + stem,)))
        for i, (word, stem) in enumerate(zip(words, stems, strict=True))
        if word not in EN_STOPWORDS and stem not in EN_STOPWORDS
    )
    places = tuple(_en_places(list(words), stems))
    return tuple(features), units, places, " ".join(sorted(words))


class _MessageWords:
    """_latin_words for the texts of one message (a cache per message: see _match_chunk). Its
    first text is the message as a whole; each clause or two of it has a run of the whole's
    words, so their parts are a slice of the whole's (the words, their pairs, and the
    character n-grams that lie within them, as each n-gram starts where it starts in the words
    joined with spaces). Only their places and fuzz string are worked out again."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, ...], _LatinParts] = {}
        self._whole: tuple[str, ...] = ()
        self._starts: list[int] = []  # where each word of the whole starts when joined

    def __call__(self, words: tuple[str, ...]) -> _LatinParts:
        found = self._found.get(words)
        if found is None:
            found = self._found[words] = self._run_of_whole(words) or self._first(words)
        return found

    def _first(self, words: tuple[str, ...]) -> _LatinParts:
        parts = _latin_words(words)
        if not self._whole:
            self._whole = words
            lengths = (len(_plain_word(w)) + 1 for w in words)
            self._starts = list(itertools.accumulate(lengths, initial=1))
        return parts

    def _run_of_whole(self, words: tuple[str, ...]) -> _LatinParts | None:
        whole = self._whole
        n, k = len(whole), len(words)
        if not words or k >= n:
            return None
        at = next(
            (i for i in range(n - k + 1) if whole[i] == words[0] and whole[i : i + k] == words),
            None,
        )
        if at is None:
            return None
        features, units, _, _ = self._found[whole]
        end = at + k
        # the whole's features: its n words, n - 1 pairs, then each n-gram length's
        # (length of the joined words - size + 1) n-grams, each at its start
        joined = self._starts[-1]  # " " + the words joined with " " + " "
        sliced = [*features[at:end], *features[n + at : n + end - 1]]
        offset = 2 * n - 1
        first, last = self._starts[at] - 1, self._starts[end]  # the run's joined words
        for size in CHAR_NGRAMS:
            count = max(0, last - first - size + 1)
            sliced += features[offset + first : offset + first + count]
            offset += max(0, joined - size + 1)
        mapped = tuple(map(_plain_word, words))
        places = tuple(_en_places(list(mapped), [_stem(w) for w in mapped]))
        return (
            tuple(sliced),
            tuple((i - at, unit) for i, unit in units if at <= i < end),
            places,
            " ".join(sorted(mapped)),
        )


def analyse(
    text: str,
    cjk_run: Callable[[str], _CjkParts] = _cjk_run,
    latin_words: Callable[[tuple[str, ...]], _LatinParts] = _latin_words,
) -> _Analysis:
    """Features of normalised text (char/pinyin n-grams for Chinese, words and char n-grams
    for English) and its coverage units. `cjk_run` analyses each CJK run and `latin_words` the
    latin words: the views of one message share a cache of each."""
    features: list[str] = []
    units: list[tuple[str, tuple[str, ...]]] = []
    words: list[str] = []
    fuzz_parts: list[str] = []
    places: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    word_at: list[int] = []  # where each word is among the units: KFC几点开门 opens with KFC
    for token in tokens(text):
        if not is_cjk(token):
            words.append(token)
            word_at.append(len(units))
            continue
        run_features, run_units, run_fuzz, run_places = cjk_run(token)
        features += run_features
        units += run_units
        fuzz_parts.append(run_fuzz)
        places += run_places
    if words:
        word_features, word_units, word_places, word_fuzz = latin_words(tuple(words))
        features += word_features
        # each word's unit in its place in the text, inserted from the last
        for i, unit in reversed(word_units):
            units.insert(word_at[i], unit)
        places.extend(word_places)
        fuzz_parts.append(word_fuzz)
    return _Analysis(features, units, " ".join(fuzz_parts), tuple(places))


_PLACE_HEAD_ZH = re.compile(PLACE_HEADS_ZH)
_ORGANISATION_END = re.compile(f"(?:单位|{PLACE_HEADS_ZH})$")
# (its first character written apart: `re` scans for a pattern's first character only when it
# opens with a character or a class, not with a repeat)
_CJK_RUN = re.compile(f"[{CJK}][{CJK}]*")


_HOURS_VERBS = frozenset({"wopen", "wclose", "whour"})
_QUANTITY = re.compile(r"w\d{1,4}")
# who is asking, not the place asked about: 我们是养老院, 我是一家物流公司的行政, 我是虹口区一家
# 养老院的负责人; and where someone works or studies: 我女儿在银行上班, "I'm a university student"
_OWN_PLACE = re.compile(f"(?:我|我们|我家)是(?:[{CJK}]{{0,5}}?一[家个所间])?$")
_WORKS_THERE = re.compile("[上下]班|工作|打工|做事|上学|读书|念书")
# and a place that issues a paper the resident needs (居委会开证明, 医院的病历) is not asked about
_ISSUES_PAPERS = re.compile("的?(?:开[个张份]?|出[个张份具]?)?(?:证明|病历|诊断|介绍信)")
_OWN_PLACE_EN = re.compile(  # the words as analysed: "i'm" is "i"
    r"\b(?:i|we)(?: am| are)? (?:a|an)(?: \w+)? $|\bwork(?:s|ing)? (?:at|in|for) (?:a |the )?$"
)
_YONDER = ("那边", "那里", "那面", "那儿")
_THERE = re.compile(f"([{CJK}]{{0,1}}[^\\W我你他她们家拉侬伊那这的了是在])那[边里儿面]$")
# a place the resident would rather not go to is not the place asked about: 不想跑大医院,
# 不用跑医院, 还是一定要去医院, "instead of going to the hospital"
_AVOIDED_PLACE = re.compile(
    f"(?:不[想用要必愿]|免得|省得|还是|而不是|代替)[{CJK}]{{0,3}}[去跑到上进][{CJK}]{{0,2}}$"
    f"|不是[{CJK}]{{0,6}}$"  # 菜鸟驿站 不是你们市民驿站: the place it is not
)
_AVOIDED_PLACE_EN = re.compile(
    r"\b(?:instead of|rather than|not|don'?t (?:want|need|have) to|no need to)"
    r"(?: \w+){0,3} $"
    # the other place of a choice: "can I see a doctor here, or do I have to go to hospital"
    r"|\bor(?: \w+){0,4} go to(?: the| a)? $"
)


def _zh_places(run: str, syllables: list[str]) -> list[Place]:
    """Each place named in a CJK run: its head and the content characters before it (as many as
    the longest known part plus a modifier may need), as character/pinyin units."""
    return [place for _, place in _zh_place_hits(run, syllables)]


def _zh_place_hits(run: str, syllables: list[str]) -> list[tuple[int, Place]]:
    """The places of `_zh_places`, each with where its head starts in the run."""

    def units(start: int, end: int) -> tuple[str, ...]:
        return tuple(map("{}/{}".format, run[start:end], syllables[start:end]))

    def words_back(at: int, limit: int) -> int:
        """Where the words that end at `at` start: back to `limit` at most, and not past a
        grammar character or a break (PLACE_BREAKS)."""
        while at > limit and run[at - 1] not in ZH_STOPCHARS and run[at - 1] not in PLACE_BREAKS:
            at -= 1
        return at

    found = []
    reach = PLACE_MODIFIER_WORDS + 2
    avoided = 0  # where the last place the resident would rather not go to ends
    for hit in _PLACE_HEAD_ZH.finditer(run):
        if _AVOIDED_PLACE.search(run[: hit.start()]):
            avoided = hit.end()  # 不想跑大医院: no place, and no words before the next one
            continue
        start = words_back(hit.start(), max(avoided, hit.start() - reach))
        if (
            _OWN_PLACE.search(run[:start])
            or _WORKS_THERE.match(run, hit.end())
            or _ISSUES_PAPERS.match(run, hit.end())
        ):
            continue  # 我们是养老院, 我是开公司的: who is asking, not the place asked about
        before = units(start, hit.start())
        # whose place: 杭州的市民驿站 names Hangzhou's (the words before 的, when they are not
        # grammar: 我们的驿站 is ours)
        # (Shanghainese 个 for 的 after 那边: 宝山那边个市民驿站)
        if (
            start >= 2
            and run[start - 2] not in ZH_STOPCHARS
            and (
                run[start - 1] == "的"
                or (run[start - 1] == "个" and run[start - 3 : start - 1] in _YONDER)
            )
        ):
            end = start - 1
            # 单位里的食堂, 医院里的食堂: a locator after an organisation says where in it
            if run[end - 1] in PLACE_LOCATORS and _ORGANISATION_END.search(run, 0, end - 1):
                end -= 1
            # the owner's name, and an area's whole name (隔壁街道, 杨浦区: see _AREA), or an
            # organisation's with the words before it (闵行驿站的食堂 is Minhang's)
            words = PLACE_MODIFIER_WORDS
            if _AREA_END.search(run, 0, end):
                words += AREA_NAME
            elif _ORGANISATION_END.search(run, 0, end):
                words += PLACE_MODIFIER_WORDS
            owner = words_back(end, max(0, end - words))
            before = units(owner, end) + before
            start = owner
        # 北京那边的社区食堂: 那边 points back at the place named before it, not at ours (我们
        # 那边的驿站 is ours): that place's name stands for the locator
        # (a match of _THERE has four characters at most and ends the text, or is followed by
        # a final newline: looked for in the last five characters only)
        there = _THERE.search(run, max(0, start - 4), start + 1)
        if there and before[:1] == units(start, start + 1):
            name = there.start(1)
            # an area's whole name: 欧阳路街道那边的驿站 is 欧阳路街道's, not any 街道's
            if _AREA_END.search(run, 0, there.end(1)):
                name = words_back(name, max(0, there.end(1) - PLACE_MODIFIER_WORDS - AREA_NAME))
            before = units(name, there.end(1)) + before[1:]
        found.append((hit.start(), (before, units(hit.start(), hit.end()))))
    return found


def _en_places(words: list[str], stems: list[str]) -> list[Place]:
    """Each place named in English words: its head and the content words before it, as stems
    ("post office"; "the bank" has nothing before its head)."""
    found: list[Place] = []
    if PLACE_HEADS_EN.isdisjoint(words) and PLACE_HEADS_EN.isdisjoint(stems):
        return found  # no place word (most English text): nothing to look at
    for i, (word, stem) in enumerate(zip(words, stems, strict=True)):
        # the word or its plural: "parking" is no park, "banks" are banks
        if word in PLACE_HEADS_EN or (word.endswith("s") and stem in PLACE_HEADS_EN):
            said_before = " ".join(words[max(0, i - 8) : i]) + " "
            if _AVOIDED_PLACE_EN.search(said_before) or _OWN_PLACE_EN.search(said_before):
                continue
            before: list[str] = []
            for j in range(i - 1, max(-1, i - 1 - PLACE_MODIFIER_WORDS), -1):
                if words[j] in EN_STOPWORDS or words[j].isdigit():
                    break
                before.insert(0, f"{stems[j]}/{stems[j]}")
            found.append((tuple(before), (f"{stem}/{stem}",)))
    return found


def _chars(units: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(u.split("/")[0] for u in units)


def _place_units(text: str) -> list[str]:
    """Normalised text as place units: character/fuzzy-pinyin for Chinese, stem/stem for English."""
    units = []
    for token in tokens(text):
        if is_cjk(token):
            units += [f"{c}/{s}" for c, s in zip(token, cjk_pinyin(token), strict=True)]
        else:
            stem = _stem(_plain_word(token))
            units.append(f"{stem}/{stem}")
    return units


class _PlaceText:
    """An entry's questions and keywords as place units, searchable for a place: the head as
    written, the units before it by their sound.

    Each unit is one character of two strings, one of its sound and one of its writing, by a
    code that the matcher's entries share (`codes`: a sound or a writing to one character), so
    a search is `str.find`; the texts are apart by a unit that matches none of theirs."""

    def __init__(self, texts: list[list[str]], codes: dict[str, str]) -> None:
        self.codes = codes
        sounds, writing = [], []
        for units in texts:
            for unit in units:
                char, sound = unit.split("/", 1)
                sounds.append(codes.setdefault(sound, chr(len(codes))))
                writing.append(codes.setdefault(char, chr(len(codes))))
            sounds.append(codes.setdefault("|", chr(len(codes))))
            writing.append(codes["|"])
        self.sounds = "".join(sounds)
        self.writing = "".join(writing)

    def has(self, before: tuple[str, ...], head: tuple[str, ...] = ()) -> bool:
        """Whether the units of `before` (by sound) then `head` (as written) are in the text."""
        codes = self.codes
        try:
            sounds = "".join([codes[u.split("/")[1]] for u in before])
            writing = "".join([codes[u.split("/")[0]] for u in head])
        except KeyError:  # a sound or a writing no entry has
            return False
        if not writing:
            return sounds in self.sounds
        if not sounds:
            return writing in self.writing
        at = self.sounds.find(sounds)
        while at >= 0:
            if self.writing.startswith(writing, at + len(sounds)):
                return True
            at = self.sounds.find(sounds, at + 1)
        return False


# Dictated messages (docs/benchmarks.md, "Long and dictated messages"): one long line of
# framing, context and the question. The normaliser removes the framing (我是帮我外婆问的, "I'm
# asking for my dad"). A long message is cut into clauses where a new one opens (a pronoun or
# connective after some content: 我外婆她一个人住 | 她能去食堂吃吗) or a modal particle closes one
# (材料啊 | 大概多久能批下来). A clause with an interrogative (INTERROGATIVES: 几 怎 多少 什么 哪
# 吗 能不能 有没有, how/what/can...) is a question; the others are context. Every clause that
# asks (QUESTION_CUES) and every two neighbouring ones of which one asks are scored as views
# beside the whole message, the whole with its context counting CONTEXT_WEIGHT in coverage and
# naming no place of its own but by a place word (银行, not the 店 of 外面饭店太贵). The view that
# answers with the best score decides (else the best-scoring one): a question decides on its
# own, any other clause only for the whole message's best entry. Every view of a long message
# is also answered when its best entry is a clear winner (DICTATED_MARGIN). When two questions
# are answered with different entries, the first asked is the answer and the other `also`.
_ZH_CLAUSE_OPENERS = "我们|你们|他们|她们|就是|还有|然后|但是|可是|因为|所以|不过|我|你|她|他|侬|伊"
_EN_CLAUSE_OPENERS = (
    "and|but|so|because|also|i'm|she|he|my|we|um|hi|what|where|how|whether"
    "|is (?:it|there|this)|are (?:there|you)|can (?:i|she|he|we|they|you|my)"
    "|could (?:i|she|he|we|they|you)|does (?:it|the|she|he)|do you"
)
# ... but not right after an auxiliary or the words that open a question ("can | she pay",
# "what time | do you close" are one question each)
_EN_NOT_AFTER = "".join(
    f"(?<!\\b{word} )"
    for word in (
        *("can", "could", "do", "does", "is", "are", "will", "would"),
        *("what", "how", "when", "where", "which", "why", "who", "time", "much", "many", "long"),
    )
)
# a modal particle inside a spoken line ends the clause it closes (材料啊 | 大概多久能批下来)
_ZH_CLAUSE_ENDS = "啊呢呀嘛吗"
# the station's own names open a clause (腿脚不大好 | 驿站有没有上门量血压的)
_HOME_OPENERS = "驿站|食堂|基金会"
_HOME_OPENER = re.compile(_HOME_OPENERS)
# Where a clause opens: before an opener after a Chinese character, after a closing particle
# before a Chinese character, after a space before our own name or (after a latin word) an
# English opener. Written as what `re` scans for fast, patterns whose every alternative opens
# with a plain character (a pattern that matches no characters is tried at every position, and
# each alternative there: several times the cost): the Chinese openers, a clause opening where
# one starts (each after a look back at the character before it); the particles and the space,
# a clause opening where they end. No opener holds another opener's first character, nor does
# an English opener hold a word that could open a clause after it (_EN_NOT_AFTER), so the
# openers the patterns take up hide none (tested against the one pattern this was). After a
# space, whether an English opener follows is looked at before the words it may not follow:
# most words open nothing, and the look-ahead fails at their first letter
_OPENERS_ZH = re.compile(
    "|".join(
        f"{opener}(?<=[{CJK}]{opener})"
        for opener in f"{_ZH_CLAUSE_OPENERS}|{_HOME_OPENERS}".split("|")
    )
)
_CLOSERS = re.compile(
    "|".join(f"{end}(?=[{CJK}])" for end in _ZH_CLAUSE_ENDS)
    + f"| (?:(?<=[{CJK}] )(?={_HOME_OPENERS})"
    f"|(?<=[a-z0-9'] )(?=(?:{_EN_CLAUSE_OPENERS})\\b){_EN_NOT_AFTER})"
)


def _clause_split(normal: str) -> list[str]:
    """Normalised text cut where a clause opens (see _OPENERS_ZH)."""
    cuts = {hit.start() for hit in _OPENERS_ZH.finditer(normal)}
    cuts.update(hit.end() for hit in _CLOSERS.finditer(normal))
    if not cuts:
        return [normal]
    bounds = [0, *sorted(cuts), len(normal)]
    return [normal[start:end] for start, end in itertools.pairwise(bounds)]


_BREAK_RE = re.compile(f" (?<=[{CJK}] )(?=[{CJK}])")  # (the space first: `re` scans for it)
# a message this long is a spoken one (DICTATED_MARGIN, context): 12 Chinese characters
# (食堂几点开门还有送饭要多少钱) or 12 English words; English is cut into clauses from 18 words
# (at 12 or 15, CLINC150's longer intent queries lost 0.3-0.5 OOS recall)
LONG_MESSAGE_CHARS = 12
LONG_MESSAGE_WORDS = 12
CLAUSE_MESSAGE_WORDS = 18
MIN_CLAUSE_CHARS = 4  # Chinese
MIN_CLAUSE_WORDS = 3  # English


def _en_words(*words: str, opening: bool = False) -> str:
    """English words as alternatives `re` can scan for: each word's \\b before it written as no
    word character (`opening`: no character at all) before its first letter, looked at after
    that letter. A pattern is scanned for (rather than tried at every position of the message)
    only when each of its alternatives opens with a plain character."""
    before = r"[\s\S]" if opening else r"\w"
    return "|".join(f"{word[0]}(?<!{before}{word[0]}){word[1:]}\\b" for word in words)


QUESTION_CUES = re.compile(
    "几|怎|多少|什么|哪|吗|没有|不|能|可以|要|会|是否|想|"
    + _en_words(
        *("how", "what", "when", "where", "which", "who", "why", "can", "could", "do", "does"),
        *("is", "are", "will", "would", "any", "want", "need", "wondering"),
    )
)
# the words that make a clause a question rather than a statement (an interrogative, a final
# 吗, A-not-A 能不能/有没有); a clause of a long message without one is context
_AUXILIARIES = ("is", "are", "will", "would", "do", "did")
INTERROGATIVES = re.compile(
    "几|怎|多少|什么|哪|谁|吗|伐|是否|有没有"
    # A-not-A (能不能, 来没来), looked at from its 不 or 没
    r"|不(?<=(\w)不)\1|没(?<=(\w)没)\2|"
    + _en_words(
        *("how", "what", "when", "where", "which", "who", "why", "whether", "if", "can"),
        *("could", "is there", "are there", "do you", "does"),
    )
    # an English clause that opens with an auxiliary asks ("and is the canteen open too")
    + "|"
    + _en_words(
        *_AUXILIARIES,
        *(f"{link} {aux}" for link in ("and", "but", "so", "also") for aux in _AUXILIARIES),
        opening=True,
    )
)
MIN_QUESTION_UNITS = 3  # coverage units: fewer say too little to decide alone
# (the English words written for scanning, as _en_words writes them; "too" and "as well" end the
# text rather than a word, so they are written out the same way)
_BY_THE_WAY = re.compile(
    "顺便|对了|另外|还想问|再问一|"
    + _en_words("by the way", "btw", "also")
    + r"|t(?<!\wt)oo\W*$|a(?<!\wa)s well\W*$"
)
CONTEXT_WEIGHT = 0.25  # 0 and 0.5 measured within one answer of it on the dictated sets
# A long message's score is lower than its typed question's (its context shares few words with
# any entry), so its best entry is also answered at the suggest threshold when it scores this
# many times the runner-up (coverage and places still apply). Measured on seven dictated sets
# (1,000 messages): 1.75 answers three more than 2 with the same wrong and false answers; 1.5
# two more again, and a wrong answer (the canteen's hours for the station's)
DICTATED_MARGIN = 1.75
# Views that agree (see Matcher._agreed): when no view of a long message answers, its best
# entry is still answered when two of its views (the whole, a clause, a clause with its
# context) have it first, one at the suggest threshold, the others at AGREE_FLOOR, with
# AGREE_COVERAGE of the coverage an answer needs and the place rule holding in each. Measured
# on seven dictated sets and the look-alike sets: 8 more answers, none wrong or false; at a
# floor of 16 two wrong answers, at a coverage of 0.7 a look-alike answered
AGREE_FLOOR = 10.0
AGREE_COVERAGE = 0.8
CLAUSE_SUPPORT = 1  # a clause that is no question decides only for the whole message's best
# and a clause answers only an entry its whole message gives this score at least: a clause of a
# message about something else can match an entry alone (我儿子从美国寄了个包裹 ... | 到了要我自己
# 去拿吗). Measured on fourteen dictated sets (2,600 messages): at 6, two wrong and one false
# answer fewer than without it and no answer lost; at 10, six wrong and one false answer fewer
# again for five answers; at 12, three answers more lost and two wrong answers more
CLAUSE_WHOLE_FLOOR = 10.0
# the last ones (the question comes at the end): 5 measured on fourteen dictated sets answers
# eleven more, one of them wrongly and one out of scope, for 60 % more views to score (speed);
# 8 measured no better
MAX_CLAUSES = 3


def _is_long(normal: str, words: int = LONG_MESSAGE_WORDS) -> bool:
    """Long enough to carry context besides the question (short typed questions, and intent
    benchmarks such as CLINC150, are matched whole); in English, `words` words."""
    # the CJK tokens are the CJK runs (no latin word holds a CJK character)
    cjk = sum(map(len, _CJK_RUN.findall(normal)))
    return cjk >= LONG_MESSAGE_CHARS or len(normal.split()) >= words


def _too_short(clause: str) -> bool:
    if is_cjk(clause[:1]):
        return len(clause) < MIN_CLAUSE_CHARS
    words = clause.split()
    # and two words that say what it is about ("can you check" asks nothing yet)
    return len(words) < MIN_CLAUSE_WORDS or sum(w not in EN_STOPWORDS for w in words) < 2


def clause_views(normal: str) -> list[str]:
    """The clauses of a long message that ask, then each two neighbouring ones of which one
    asks (none for a short message)."""
    asking, pairs, _, _ = _clauses(_segments(normal, _is_long(normal, CLAUSE_MESSAGE_WORDS)))
    return asking + pairs


def _segments(normal: str, long: bool) -> list[tuple[str, bool]]:
    """A long message cut into clauses, each with whether it asks (none for a short one)."""
    if not long:
        return []
    clauses = []
    for clause in _clause_split(normal):
        # a break between Chinese words (punctuation, or framing taken out: 送饭上门的 | 怎么申请)
        # ends context; after a question its words go on (这是什么牌子的鞋子 是什么型号)
        parts = _BREAK_RE.split(clause)
        for part in parts[1:]:
            if INTERROGATIVES.search(parts[0]):
                parts[0] += " " + part
            else:
                clauses.append(parts[0])
                parts[0] = part
        clauses.append(parts[0])
    # each clause without the particle that closes it (材料啊), and as said: 驿站有医生看吗 asks
    said = [c.strip() for c in clauses]
    merged: list[tuple[str, str]] = []
    stripped = [c.rstrip(_ZH_CLAUSE_ENDS) for c in said]
    carry = ("", "")  # a short clause that leads into one opening at our own name
    last_short = False  # whether the last merged clause is too short to ask anything
    for i, (clause, whole) in enumerate(zip(stripped, said, strict=True)):
        clause, whole = carry[0] + clause, carry[1] + whole
        carry = ("", "")
        following = stripped[i + 1] if i + 1 < len(stripped) else ""
        short = _too_short(clause)
        if clause and short and _HOME_OPENER.match(following):
            carry = (clause, whole)  # 她能去 | 食堂吃吗 is one clause
        # a clause too short to ask anything joins the one before
        elif merged and (short or last_short):
            gap = "" if is_cjk(clause[:1]) else " "
            merged[-1] = (merged[-1][0] + gap + clause, merged[-1][1] + gap + whole)
            last_short = _too_short(merged[-1][0])
        elif clause:
            merged.append((clause, whole))
            last_short = short
    if carry[0]:
        merged.append(carry)
    return [(c, INTERROGATIVES.search(whole) is not None) for c, whole in merged]


# a space between Chinese characters as typed or dictated: the normaliser takes it out (食 堂),
# but between two questions it is where one ends (驿站在哪 几点开门)
_CJK_SPACE = re.compile(f"(?<=[{CJK}])\\s+(?=[{CJK}])")


def _side_by_side(
    normal: str, spoken: str, normalize: Callable[[str], str]
) -> list[tuple[str, bool]]:
    """A message not cut into clauses (too short, or one clause) that is two or three questions
    side by side (驿站在哪 几点开门, 食堂几点开门？送饭多少钱, "what time does the canteen open and
    how much is delivery"): its parts, apart where a space, a punctuation mark or a clause
    opener is, when each has an interrogative (INTERROGATIVES) and says enough to be a question
    of its own; else none. The whole message is read and decided as before; its parts are its
    questions, answered beside it (see _first_question)."""
    pieces = _CJK_SPACE.split(spoken)
    clauses = [
        clause.strip()
        for piece in (map(normalize, pieces) if len(pieces) > 1 else [normal])
        for part in _BREAK_RE.split(piece)
        for clause in _clause_split(part)
    ]
    parts = []
    for clause in filter(None, clauses):
        if parts and _too_short(clause):  # an opener alone ("and") joins the clause before
            parts[-1] += ("" if is_cjk(clause[:1]) else " ") + clause
        else:
            parts.append(clause)
    if not 2 <= len(parts) <= MAX_CLAUSES or any(
        _too_short(part) or INTERROGATIVES.search(part) is None for part in parts
    ):
        return []
    return [(part, True) for part in parts]


def _names_itself(place: Place) -> bool:
    """A place word that is a word of its own (银行, 图书馆, "bank"), not a character that
    only makes a place with the words before it (饭店, 现场, 养老院, 驿站)."""
    _, head = place
    return len(head) > 1 or head[0].isascii()


def _spoken_places(
    normal: str, segments: list[tuple[str, bool]], analysis: Callable[[str], _Analysis]
) -> list[tuple[Place, int]]:
    """The places a long message names, each with the clause it is in. Chinese places are
    found in the message as said, not in its clauses: a clause may begin at a place whose words
    before it end the clause before (北京的社区 | 食堂一顿饭多少钱)."""
    # where each clause is in the message: its characters in order (the clauses left out the
    # spaces and particles between them), at once when it is said as it is written
    ends, at = [], 0
    for clause, _ in segments:
        start = normal.index(clause[0], at)
        if normal.startswith(clause, start):
            at = start + len(clause)
        else:
            for char in clause.replace(" ", ""):
                at = normal.index(char, at) + 1
        ends.append(at)
    found = []
    for run in _CJK_RUN.finditer(normal):
        if _PLACE_HEAD_ZH.search(run.group()):
            for head, place in _zh_place_hits(run.group(), cjk_pinyin(run.group())):
                clause = bisect.bisect_right(ends, run.start() + head)
                found.append((place, min(clause, len(segments) - 1)))
    for i, (clause, _) in enumerate(segments):  # English places, clause by clause
        if LATIN_LETTER.search(clause):
            found += [(place, i) for place in analysis(clause).places if place[1][0].isascii()]
    return found


def _focused(
    segments: list[tuple[str, bool]],
    view: _Analysis,
    analysis: Callable[[str], _Analysis],
    spoken_places: list[tuple[Place, int]],
    is_home: Callable[[Place], bool],
    looks_home: Callable[[Place], bool],
) -> _Analysis:
    """`view` of a long message, marked as spoken: the coverage units of its clauses that do not
    ask marked as context (they count CONTEXT_WEIGHT in coverage), and the places they name
    (`spoken_places`) left out unless named by a word of their own or another's place by our
    place's name (`looks_home`: 菜鸟驿站, 公司食堂): 外面饭店太贵 is context, 银行 is a place.
    When the question names our own place (`is_home`), the places of the context are where the
    resident has been or would rather not go (去医院排队太累了 驿站能配药吗): left out too."""
    places = [(place, segments[i][1]) for place, i in spoken_places]
    if all(asks for _, asks in segments) or not any(asks for _, asks in segments):
        return replace(view, places=tuple(place for place, _ in places), dictated=True)
    units: list[tuple[str, tuple[str, ...]]] = []
    context: set[int] = set()
    for clause, asks in segments:
        clause_view = analysis(clause)
        if not asks:
            context.update(range(len(units), len(units) + len(clause_view.units)))
        units += clause_view.units
    asks_home = any(asks and is_home(place) for place, asks in places)
    named = tuple(
        place
        for place, asks in places
        if asks or ((_names_itself(place) or looks_home(place)) and not asks_home)
    )
    return replace(view, units=units, context=frozenset(context), places=named, dictated=True)


def _clauses(
    segments: list[tuple[str, bool]],
) -> tuple[list[str], list[str], dict[str, str], dict[str, tuple[int, ...]]]:
    """The asking clauses of a long message, its asking pairs of neighbouring clauses, those
    pairs that are a question after its context (她一个人住 | 她能去食堂吃吗), each with its
    question, and which of the segments each clause and pair is."""
    if len(segments) < 2:
        return [], [], {}, {}
    first = max(0, len(segments) - MAX_CLAUSES)
    segments = segments[first:]  # the question comes at the end
    merged = [c for c, _ in segments]
    asks = [question or QUESTION_CUES.search(c) is not None for c, question in segments]
    # a pair gives a clause that asks the words of its neighbour; two questions side by side
    # (segments that each have an interrogative) are two questions, each a view of its own
    pairs: list[str] = []
    led: dict[str, str] = {}
    parts = {c: (first + i,) for i, (c, ask) in enumerate(zip(merged, asks, strict=True)) if ask}
    for i, ((a, b), (ask_a, ask_b), (question_a, question_b)) in enumerate(
        zip(
            itertools.pairwise(merged),
            itertools.pairwise(asks),
            itertools.pairwise(asking for _, asking in segments),
            strict=True,
        )
    ):
        if (ask_a or ask_b) and not (question_a and question_b):
            pairs.append(a + " " + b)
            parts[pairs[-1]] = (first + i, first + i + 1)
            if question_b:
                led[pairs[-1]] = b
    return [c for c, ask in zip(merged, asks, strict=True) if ask], pairs, led, parts


def _pinyin_view(text: str) -> _Analysis | None:
    """A latin text read as pinyin typed without an IME ("shitang jidian kaimen")."""
    syllables = pinyin_reading(text)
    if not syllables or len(syllables) < 2:
        return None
    features: list[str] = []
    units: list[tuple[str, tuple[str, ...]]] = []
    _pinyin_units(syllables, features, units)
    return _Analysis(features, units, "".join(syllables))


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length (float32)."""
    matrix = sparse.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags((1.0 / norms).astype(np.float32)) @ matrix)


def _train_classifier(
    rows: sparse.csr_matrix, labels: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by minibatch SGD with momentum (fixed seed, so the
    same knowledge base always gives the same matcher). Each step touches only the feature
    rows present in its batch, which keeps 15,000 questions under a second."""
    weights = np.zeros((rows.shape[1], n_classes), dtype=np.float32)
    velocity = np.zeros_like(weights)
    bias = np.zeros(n_classes, dtype=np.float32)
    order = np.random.default_rng(0)
    for _ in range(CLASSIFIER_EPOCHS):
        shuffled = order.permutation(rows.shape[0])
        for start in range(0, len(shuffled), CLASSIFIER_BATCH):
            batch = shuffled[start : start + CLASSIFIER_BATCH]
            block = rows[batch]
            columns = np.unique(block.indices)
            block = block[:, columns]
            logits = block @ weights[columns] + bias
            logits -= logits.max(axis=1, keepdims=True)
            error = np.exp(logits)
            error /= error.sum(axis=1, keepdims=True)
            error[np.arange(len(batch)), labels[batch]] -= 1.0
            step = CLASSIFIER_RATE / len(batch)
            velocity[columns] = CLASSIFIER_MOMENTUM * velocity[columns] - step * (block.T @ error)
            weights[columns] += velocity[columns]
            bias -= step * error.sum(axis=0)
    return weights, bias


def _spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The places start ... start + length - 1 of each (start, length), one after the other."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    return np.arange(total) + np.repeat(starts - ends + lengths, lengths)


def _numpy_gather_rows(
    n: int,
    rows: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    out_indices: np.ndarray,
    out_data: np.ndarray,
) -> None:
    """CSR rows `rows` (of indptr, indices, data) one after the other into `out_indices` and
    `out_data`: scipy's csr_row_index, in numpy, for a scipy that does not have it."""
    starts = indptr[rows[:n]].astype(np.int64)
    offsets = _spans(starts, indptr[rows[:n] + 1] - starts)
    indices.take(offsets, out=out_indices)
    data.take(offsets, out=out_data)


def _numpy_column_products(n_row: int, n_col: int, *arrays: np.ndarray) -> None:
    """y += A @ x, `arrays` being A's pointers, indices and data (a CSC matrix of n_row rows and
    n_col columns; a column whose end is before its start is empty), x and y, each cell of y
    added to column by column: scipy's csc_matvec, in numpy, for a scipy that does not have it."""
    pointers, indices, data, x, y = arrays
    starts = pointers[:n_col].astype(np.int64)
    lengths = np.maximum(pointers[1 : n_col + 1] - starts, 0)
    offsets = _spans(starts, lengths)
    y += np.bincount(
        indices[offsets], data[offsets] * np.repeat(x[:n_col], lengths), minlength=n_row
    )


def _numpy_dense_products(n_row: int, n_col: int, n_vecs: int, *arrays: np.ndarray) -> None:
    """y += A @ x, `arrays` being A's pointers, indices and data (a CSR matrix of n_row rows and
    n_col columns), x (n_col x n_vecs) and y, flat: each of A's entries' rows of x scaled and
    added to y's row one after the other (scipy's csr_matvecs, in numpy, for a scipy that does
    not have it)."""
    pointers, indices, data, x, y = arrays
    x, y = x.reshape(n_col, n_vecs), y.reshape(n_row, n_vecs)
    for row, (start, end) in enumerate(itertools.pairwise(pointers[: n_row + 1].tolist())):
        for column, value in zip(indices[start:end], data[start:end], strict=True):
            y[row] += value * x[column]


# the C loops behind scipy's fancy row indexing of a CSR matrix (matrix[rows]), a CSC matrix
# times a vector and a CSR matrix times a dense one, without the ~40 µs of checks and set-up
# around them: private functions of scipy's, hence the fallbacks
try:
    from scipy.sparse._sparsetools import csc_matvec as _column_products
    from scipy.sparse._sparsetools import csr_matvecs as _dense_products
    from scipy.sparse._sparsetools import csr_row_index as _gather_rows
except ImportError:  # pragma: no cover - scipy 1.10 (our oldest) to 1.17 have them
    _gather_rows = _numpy_gather_rows
    _column_products = _numpy_column_products
    _dense_products = _numpy_dense_products


@dataclass
class _Rows:
    """Sparse rows (one per view) as parallel arrays: rows ascending, columns descending within
    a row (see _product), each (row, column) once."""

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    n_rows: int


def _row_sums(rows: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Sums per row, in the values' type (one bincount: a message's few rows cost more to cut
    into segments than to add)."""
    return np.bincount(rows, values, minlength=n_rows).astype(values.dtype, copy=False)


def _row_pointers(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Where each of n_rows rows starts among cells sorted by row (`rows`: each cell's), and
    where the last ends: a CSR matrix's row pointers."""
    return rows.searchsorted(np.arange(n_rows + 1))


def _counted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, ascending, and how often each is there: np.unique(keys,
    return_counts=True) without its checks and options (which cost it a third more on a
    message's keys)."""
    keys = np.sort(keys)
    edges = np.empty(len(keys) + 1, dtype=bool)
    edges[0] = edges[-1] = True
    np.not_equal(keys[1:], keys[:-1], out=edges[1:-1])
    at = edges.nonzero()[0]
    return keys[at[:-1]], at[1:] - at[:-1]


def _gathered_columns(matrix: sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The column indices of rows of a CSR matrix, one row after the other (scipy's own row
    gather, in C), and each row's length."""
    lengths = matrix.indptr[rows + 1] - matrix.indptr[rows]
    total = int(np.add.reduce(lengths))
    indices = np.empty(total, dtype=matrix.indices.dtype)
    _gather_rows(
        len(rows),
        rows.astype(matrix.indptr.dtype, copy=False),
        matrix.indptr,
        matrix.indices,
        matrix.data,
        indices,
        np.empty(total, dtype=matrix.data.dtype),  # their values: not wanted
    )
    return indices, lengths


def _product(query: _Rows, matrix: sparse.csr_matrix) -> np.ndarray:
    """query x matrix, dense, each query row's matrix rows scaled and added in C, in place, by
    scipy's CSC matrix x vector loop (csc_matvec): a query row with columns c0 > c1 > ... is
    the vector (its values) of a CSC matrix whose column pointers are the rows' start and end
    in `matrix`, one after the other: start(c0), end(c0), start(c1), end(c1) ... Its columns
    are matrix row c0, then one from end(c0) back to start(c1), which is before it (the rows
    descend): empty, then row c1, and so on. So each cell is added in the query's order, as
    scipy's sparse product adds them (scores stay the same to the last bit), and no cell of
    the matrix is copied (a message's whole view alone has ~30,000). (Were a row's columns
    ascending, the columns between would hold the rows between, times 0: the same sums,
    slower.)"""
    width = matrix.shape[1]
    out = np.zeros((query.n_rows, width), dtype=matrix.data.dtype)
    n = len(query.columns)
    pointers = np.empty(2 * n, dtype=matrix.indptr.dtype)
    pointers[0::2] = matrix.indptr[query.columns]
    pointers[1::2] = matrix.indptr[query.columns + 1]
    x = np.zeros(2 * n, dtype=matrix.data.dtype)  # 0 for the columns between
    x[0::2] = query.values
    bounds = _row_pointers(query.rows, query.n_rows).tolist()
    for row, (start, end) in enumerate(itertools.pairwise(bounds)):
        if end > start:
            _column_products(
                width,
                2 * (end - start) - 1,
                pointers[2 * start :],
                matrix.indices,
                matrix.data,
                x[2 * start :],
                out[row],
            )
    return out


_first = operator.itemgetter(0)


class _Space:
    """TF-IDF vector space (sublinear tf, smoothed idf, L2-normalised rows)."""

    def __init__(self, documents: list[list[str]]) -> None:
        # a new feature gets the next column: map() over a defaultdict stays in C
        columns: defaultdict[str, int] = defaultdict()
        columns.default_factory = columns.__len__
        indptr, indices = [0], []
        for features in documents:
            indices.extend(map(columns.__getitem__, features))
            indptr.append(len(indices))
        # (interned: a message's features of one character are too, see _CharacterFeatures)
        self.vocabulary: dict[str, int] = {sys.intern(f): column for f, column in columns.items()}
        counts = sparse.csr_matrix(
            (np.ones(len(indices)), np.array(indices, dtype=np.int64), np.array(indptr)),
            shape=(len(documents), len(self.vocabulary)),
        )
        counts.sum_duplicates()
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        n = len(documents)
        self.idf = np.log((1 + n) / (1 + df)) + 1.0
        self.unknown_idf = math.log(1 + n) + 1.0  # a word the knowledge base never uses
        counts.data = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self.matrix = sparse.csr_matrix(sparse.diags(1.0 / norms) @ counts)

    def transform(self, documents: list[list[str]]) -> _Rows:
        """Query vectors; words unknown to the knowledge base still count in the norm, so a
        message that is mostly about something else gets low similarity everywhere."""
        vocabulary = self.vocabulary
        lengths = [len(features) for features in documents]
        found = np.fromiter(
            map(vocabulary.get, itertools.chain.from_iterable(documents), itertools.repeat(-1)),
            dtype=np.int64,
            count=sum(lengths),
        )
        rows = np.arange(len(documents)).repeat(lengths)
        known = found >= 0
        absent = (~known).tolist()
        unknown = []
        for end, features in zip(itertools.accumulate(lengths), documents, strict=True):
            # unknown Chinese characters (features u and b: one, and two side by side) are not
            # held against a message: a homophone slip (志原者) is unknown as characters, known
            # as pinyin
            missing = set(itertools.compress(features, absent[end - len(features) : end]))
            # counted in one string (a feature holds no line break): a third faster than
            # str.startswith called for each
            lines = "\n" + "\n".join(missing)
            unknown.append(len(missing) - lines.count("\nu") - lines.count("\nb"))
        # the cells sorted by row, columns descending within a row: the order scipy's products
        # added them in, kept so that scores stay the same to the last bit
        last = len(vocabulary) - 1
        keys = rows[known] * (last + 1) + (last - found[known])
        cells, counts = _counted(keys)
        rows, descending = np.divmod(cells, last + 1)
        columns = last - descending
        values = (1.0 + np.log(counts.astype(np.float64))) * self.idf[columns]
        # each row's squares added in ascending column order (as scipy's norm added them)
        squares = _row_sums(rows[::-1], (values * values)[::-1], len(documents))
        norms = np.sqrt(squares + np.array(unknown, dtype=float) * self.unknown_idf**2)
        norms[norms == 0] = 1.0
        values = (1.0 / norms)[rows] * values
        return _Rows(rows, columns, values, len(documents))


# the place rule for a place and an entry's place text (None: the home places alone): see
# Matcher._knows_place
_KnowsPlace = Callable[[Place, _PlaceText | None], bool]


class Matcher:
    """Scores messages against one knowledge base and applies the answer/suggest/none rule."""

    def __init__(
        self,
        kb: KnowledgeBase,
        thresholds: dict[str, float] | None = None,
        weights: Weights | None = None,
    ) -> None:
        settings = dict(DEFAULT_THRESHOLDS)
        settings.update({k: float(v) for k, v in (thresholds or {}).items() if v is not None})
        settings.update({k: float(v) for k, v in kb.settings.items() if v is not None})
        self.answer_threshold = settings["answer_threshold"]
        self.suggest_threshold = min(settings["suggest_threshold"], self.answer_threshold)
        self.coverage_strictness = min(max(settings["coverage_strictness"], 0.0), 100.0)
        # the coverage an outright answer needs
        self.min_coverage = MIN_COVERAGE_AT_FULL_STRICTNESS * self.coverage_strictness / 100.0
        self.weights = weights or Weights()
        self.normalizer = Normalizer(kb.synonyms)
        self.entry_ids = [entry.id for entry in kb.entries]
        # fraud precedence applies to a knowledge base that has the warning to give
        self._fraud_entry = FRAUD_ENTRY if FRAUD_ENTRY in self.entry_ids else None
        self._fraud_row = self.entry_ids.index(FRAUD_ENTRY) if self._fraud_entry else None
        self._build(kb)

    def _build(self, kb: KnowledgeBase) -> None:
        question_features, fuzz_texts, starts = [], [], []
        keyword_features = []
        # the place rule: each entry's questions and keywords as place text, and the heads of
        # the places the knowledge base is about
        self.entry_place_texts: list[_PlaceText] = []
        place_codes: dict[str, str] = {}
        phrase_entries: defaultdict[tuple[str, ...], int] = defaultdict(int)
        mentions: set[tuple[str, ...]] = set()  # places as named, with all the words before
        areas: set[str] = set()  # the areas its Chinese questions, keywords and answers name
        for entry in kb.entries:
            starts.append(len(question_features))
            place_texts, places = [], []
            for language in LANGUAGES:
                for question in entry.questions.get(language, []):
                    normal = self.normalizer.normalize(question)
                    analysis = analyse(normal)
                    question_features.append(analysis.features)
                    fuzz_texts.append(analysis.fuzz_text)
                    places += analysis.places
                    place_texts.append(_place_units(normal))
                    if language == "zh":
                        areas.update(_AREA.findall(normal))
            keywords = [
                (lang, self.normalizer.normalize(k))
                for lang in LANGUAGES
                for k in entry.keywords.get(lang, [])
            ]
            keyword_analyses = [analyse(normal) for _, normal in keywords]
            keyword_features.append([f for a in keyword_analyses for f in a.features])
            places += [place for a in keyword_analyses for place in a.places]
            place_texts += [_place_units(normal) for _, normal in keywords]
            areas.update(area for lang, k in keywords if lang == "zh" for area in _AREA.findall(k))
            areas.update(_AREA.findall(self.normalizer.normalize(entry.answer.get("zh", ""))))
            self.entry_place_texts.append(_PlaceText(place_texts, place_codes))
            phrases = {
                _chars((*before[len(before) - k :], *head))
                for before, head in places
                for k in range(len(before) + 1)
            }
            for phrase in phrases:
                phrase_entries[phrase] += 1
            mentions.update(_chars((*before, *head)) for before, head in places)
        home = {p for p, n in phrase_entries.items() if n >= HOME_SHARE * len(kb.entries)}
        # and the home places as the knowledge base names them with the words before them
        # anywhere (社区食堂, 上海市老年基金会): a resident who says so names ours too. The home
        # place must be two units at least: 地铁站 is not ours because 站 is
        home |= {m for m in mentions if any(m[-k:] in home for k in range(2, len(m)))}
        self.home_places = frozenset(home)
        self.home_areas = frozenset(areas)

        self._has_questions = bool(question_features)
        if not self._has_questions:
            return
        n_entries = len(self.entry_ids)
        self.space = _Space(question_features + keyword_features)
        all_rows = self.space.matrix
        questions = all_rows[: len(question_features)]
        self.fuzz_texts = np.array(fuzz_texts, dtype=object)
        self.starts = np.array(starts)
        lengths = np.diff(np.append(self.starts, len(question_features)))
        self.question_entry = np.repeat(np.arange(n_entries), lengths)
        # entry x document membership: entry sums for the centroid and naive-Bayes counts
        owner = np.concatenate([self.question_entry, np.arange(n_entries)])
        membership = sparse.csr_matrix(
            (np.ones(len(owner)), (owner, np.arange(len(owner)))),
            shape=(n_entries, len(owner)),
        )
        totals = sparse.csr_matrix(membership @ all_rows)
        norms = np.sqrt(np.asarray(totals.multiply(totals).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        centroids = sparse.csr_matrix(sparse.diags(1.0 / norms) @ totals)
        # multinomial naive Bayes over entries, kept sparse: log P(f|e) = base_e + log1p(n/alpha)
        alpha = self.weights.bayes_alpha
        bayes = totals.copy()
        bayes.data = np.log1p(bayes.data / alpha)
        # vocabulary x (questions, entry centroids, naive-Bayes weights): a message's three
        # products are one (see _product)
        self.scoring_t = sparse.vstack([questions, centroids, bayes]).T.tocsr()
        mass = np.asarray(totals.sum(axis=1)).ravel()
        self.bayes_base = np.log(alpha) - np.log(mass + alpha * totals.shape[1])
        # which features each entry uses: a message word none of them covers is not answered
        names = np.array(list(self.space.vocabulary), dtype=object)
        self.entry_features = [
            frozenset(names[totals.indices[totals.indptr[i] : totals.indptr[i + 1]]])
            for i in range(n_entries)
        ]
        # the same as a vocabulary x entries matrix, for coverage of all entries at once
        self.entry_uses = sparse.csr_matrix((totals != 0).T, dtype=np.int8)
        self._any_pinyin = any(f.startswith("q") for f in self.space.vocabulary)
        if self._any_pinyin:
            # read pypinyin's syllable table (~85 ms) now: otherwise the first message typed in
            # latin letters after start-up waits for it (pinyin typed without an IME)
            pinyin_syllables()
        # the classifier sees word-level features only (words, word pairs, character and
        # pinyin pairs): character n-grams add little there and would triple training time
        self.classifier_columns = np.array(
            [i for i, name in enumerate(names) if name[0] in CLASSIFIER_FEATURES], dtype=np.int64
        )
        # a vocabulary column's place among them (-1: not the classifier's)
        self.classifier_positions = np.full(len(names), -1, dtype=np.int64)
        self.classifier_positions[self.classifier_columns] = np.arange(len(self.classifier_columns))
        self.classifier: tuple[np.ndarray, np.ndarray] | None = None
        # a class per entry: with thousands of one-question entries there is nothing to learn
        # and the weight matrix would not fit in memory; the other channels then carry its weight
        if n_entries <= CLASSIFIER_MAX_ENTRIES and self.weights.classifier > 0:
            labels = np.concatenate([self.question_entry, np.arange(n_entries)])
            self.classifier = _train_classifier(
                _unit_rows(all_rows[:, self.classifier_columns]), labels, n_entries
            )

    # scoring

    def match(self, text: str) -> MatchResult:
        """The decision for one message; never raises."""
        return self.match_many([text])[0]

    def match_many(self, texts: list[str]) -> list[MatchResult]:
        """Decisions for many messages, scored in bulk."""
        results: list[MatchResult] = []
        for start in range(0, len(texts), CHUNK):
            results.extend(self._match_chunk(texts[start : start + CHUNK]))
        return results

    def _match_chunk(self, texts: list[str]) -> list[MatchResult]:
        views: list[_Analysis] = []
        owner: list[int] = []
        clauses: set[int] = set()  # rows that are a clause of their message, not all of it
        # rows that are a question side by side with others in a short message: they answer
        # their question for _first_question, but the message is decided whole
        beside: set[int] = set()
        fraud: set[int] = set()
        in_context: dict[int, str] = {}  # rows that are a question after its context
        # rows that read only a message's last clause after "by the way" (顺便问一下, also):
        # a second question, and the row of each message's whole
        second: set[int] = set()
        whole_row: dict[int, int] = {}
        # rows that are one clause, a question (INTERROGATIVES): the clause
        asked: dict[int, str] = {}
        # the place rule for each place and entry once: the views of a message name the same
        # places, and the rule is looked at for each view's best entry and for our own places
        knows_place = functools.cache(self._knows_place)

        def names_home(place: Place) -> bool:
            return self._names_home(place, knows_place)

        def looks_home(place: Place) -> bool:
            return self._looks_home(place, knows_place)

        for index, text in enumerate(texts):
            normal = self._normal(text)
            if not normal or not self._has_questions:
                continue
            if self._fraud_entry is not None and describes_fraud(normal):
                fraud.add(index)
            # long as spoken: the framing taken out of it (我是帮我外婆问的) was said too
            spoken = str(text).casefold()
            long = _is_long(normal) or _is_long(spoken)
            cut = long and (
                _is_long(normal, CLAUSE_MESSAGE_WORDS) or _is_long(spoken, CLAUSE_MESSAGE_WORDS)
            )
            segments = _segments(normal, cut)
            # the message is its clauses: each CJK run of them, and its latin words, are analysed
            # once, for the whole message and for every view they are part of (a cache per
            # message: one across messages would flatter the benchmark, whose messages overlap,
            # more than it would help residents). A long message's Chinese places are
            # found in the message as said (_spoken_places), not in its clauses' runs
            runs = functools.cache(functools.partial(_cjk_run, places=not segments))
            words = _MessageWords()
            analysis = functools.cache(functools.partial(analyse, cjk_run=runs, latin_words=words))
            spoken_places: list[tuple[Place, int]] = []
            if segments:
                joined = analysis(" ".join(c for c, _ in segments))
                spoken_places = _spoken_places(normal, segments, analysis)
                whole = _focused(segments, joined, analysis, spoken_places, names_home, looks_home)
            else:
                whole = replace(analysis(normal), dictated=long)
            whole_row[index] = len(views)
            views.append(whole)
            owner.append(index)
            # a message not cut into clauses may still be questions side by side
            beside_questions = len(segments) < 2
            questions = (
                _side_by_side(normal, spoken, self._normal) if beside_questions else segments
            )
            asking, pairs, led, parts = _clauses(questions)
            by_the_way = _BY_THE_WAY.search(spoken) is not None
            said_questions = {c for c, question in questions if question}
            last = len(questions) - 1
            for part in asking + pairs:
                question = part in asking and part in said_questions
                if question:
                    asked[len(views)] = part
                if part in led:
                    in_context[len(views)] = led[part]
                if by_the_way and parts[part] == (last,):
                    second.add(len(views))
                view = analysis(part)
                # the places the whole message names still decide (a long message about the
                # bank's hours is not answered with ours), unless the clause names ours: then
                # the places it names (食堂可以刷社保卡吗 | 顺便问下超市几点关门), as said in
                # the message (北京的社区 | 食堂几点开饭 names Beijing's)
                own = tuple(place for place, i in spoken_places if i in parts[part])
                views.append(
                    replace(
                        view,
                        places=own if any(map(names_home, own)) else whole.places,
                        dictated=True,
                        question=question,
                    )
                )
                owner.append(index)
                clauses.add(len(views) - 1)
                if beside_questions:
                    beside.add(len(views) - 1)
            if self._any_pinyin and (pinyin := _pinyin_view(normal)) is not None:
                views.append(pinyin)
                owner.append(index)
        # each message's decision: from the view that answers with the best score, else from
        # its best-scoring view
        best: dict[int, tuple[tuple[bool, bool, bool, float], MatchResult, int]] = {}
        # by questions: the clause and its decision
        answered: defaultdict[int, list[tuple[str, MatchResult, bool]]] = defaultdict(list)
        # by message: the scores of the views that have each entry first and could answer it
        votes: defaultdict[int, defaultdict[int, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        if views:
            scores, coverages = self._score(views)
            orders = (-scores).argsort(axis=1)[:, :MAX_CANDIDATES].tolist()
            for row, index in enumerate(owner):
                if index not in best:  # the whole message: its candidates support a clause
                    support = set(orders[row][:CLAUSE_SUPPORT])
                    whole_scores = scores[row]
                top = orders[row][0]
                # a clause that is a question decides on its own; any other clause only for
                # the whole message's best entry, and only when it says enough; a question
                # clause that says little (how do I sign up) is read in its message as a
                # context clause is
                says_little = len(views[row].units) < MIN_QUESTION_UNITS
                unsupported = row in clauses and (
                    ((row not in asked or says_little) and top not in support)
                    or (says_little and row not in asked)
                )
                if unsupported and row not in asked:
                    continue  # its decision would not be used: not worth making
                result = self._decide(
                    texts[index], scores[row], coverages[row], views[row], orders[row], knows_place
                )
                # the fraud warning is the whole message's to give (a clause of an ordinary
                # question can look like one), and no clause answers an entry its whole
                # message hardly scores (CLAUSE_WHOLE_FLOOR)
                decides = not unsupported and not (
                    row in clauses
                    and (
                        result.id == FRAUD_ENTRY
                        or (result.outcome == "answer" and whole_scores[top] < CLAUSE_WHOLE_FLOOR)
                    )
                )
                # a question answered (for _first_question): the first question only by a
                # clause that decides, a second one offered by any
                if row in asked and result.outcome == "answer":
                    answered[index].append((asked[row], result, decides))
                if not decides or row in beside:
                    continue
                if self._could_agree(views[row], scores[row], coverages[row], top, knows_place):
                    votes[index][top].append(float(scores[row, top]))
                rank = (
                    result.outcome == "answer",
                    row not in second,  # a question after "by the way" goes after the first
                    row in in_context and result.outcome == "answer",
                    result.score,
                )
                if index not in best or rank > best[index][0]:
                    best[index] = (rank, result, row)
        decisions = []
        for i, text in enumerate(texts):
            if i in fraud:
                decisions.append(self._warn(best[i][1]))
            elif i in best:
                _, result, row = best[i]
                if result.outcome != "answer":
                    result = self._agreed(result, votes[i])
                # a question read in its context stands for that question read alone
                question = in_context.get(row)
                result = self._first_question(
                    result,
                    [(result, True) if q == question else (r, d) for q, r, d in answered[i]],
                )
                # the answer reads only a second question (顺便问一下你们在哪里): when the whole
                # message is about another entry, both are offered rather than the second
                # answered
                first = orders[whole_row[i]][0]
                if (
                    row in second
                    and result.outcome == "answer"
                    and result.id == best[i][1].id  # not already the first question's
                    and self.entry_ids[first] != result.id
                    and scores[whole_row[i], first] >= self.suggest_threshold
                ):
                    offered = [self.entry_ids[first], result.id]
                    result = replace(result, outcome="suggest", id=None, suggestions=offered)
                decisions.append(result)
            else:
                decisions.append(self._nothing(text))
        return decisions

    def _could_agree(
        self,
        view: _Analysis,
        scores: np.ndarray,
        coverages: np.ndarray,
        entry: int,
        knows_place: _KnowsPlace,
    ) -> bool:
        """Whether a view's best entry counts towards views that agree (AGREE_FLOOR)."""
        return (
            view.dictated
            and self.entry_ids[entry] != self._fraud_entry
            and scores[entry] >= AGREE_FLOOR
            and coverages[entry] >= AGREE_COVERAGE * self.min_coverage
            and (
                not self.coverage_strictness
                or self._names_only_its_places(view, entry, knows_place)
            )
        )

    def _agreed(self, result: MatchResult, votes: dict[int, list[float]]) -> MatchResult:
        """A long message no view answered: answered when two of its views agree on their best
        entry, one of them at the suggest threshold (AGREE_FLOOR)."""
        agreed = [
            (max(scores), entry)
            for entry, scores in votes.items()
            if len(scores) >= 2 and max(scores) >= self.suggest_threshold
        ]
        if len(agreed) != 1:  # none, or views that agree on two entries: a close call
            return result
        score, entry = agreed[0]
        return replace(
            result, outcome="answer", id=self.entry_ids[entry], suggestions=[], score=score
        )

    def _first_question(
        self, result: MatchResult, asked: list[tuple[MatchResult, bool]]
    ) -> MatchResult:
        """Two questions in one message (食堂几点开门还有送饭要多少钱). `asked`: the decisions of
        its clauses that are questions and were answered outright, in the message's order, each
        with whether its clause decides. When the message's answer is that of one of them and
        an earlier one that decides was answered with another entry, the earlier question is
        the answer; the best-scoring other entry is `also`, for the bot to offer as a button."""
        if result.outcome != "answer":
            return result
        asked = [(r, decides) for r, decides in asked if r.id != self._fraud_entry]
        deciding = [r for r, decides in asked if decides]
        at = next((i for i, r in enumerate(deciding) if r.id == result.id), 0)
        first = deciding[0] if deciding[:at] else result
        others = [r for r in [*(r for r, _ in asked), result] if r.id != first.id]
        return replace(first, also=max(others, key=lambda r: r.score).id if others else None)

    def _score(self, views: list[_Analysis]) -> tuple[np.ndarray, np.ndarray]:
        """Entry scores and coverages (views x entries; 0..100 and 0..1)."""
        w = self.weights
        queries = self.space.transform([v.features for v in views])
        products = _product(queries, self.scoring_t)
        n_questions, n_entries = len(self.question_entry), len(self.entry_ids)
        similarity = products[:, :n_questions]
        nearest = np.maximum.reduceat(similarity, self.starts, axis=1)
        centroid = products[:, n_questions : n_questions + n_entries]
        loglik = products[:, n_questions + n_entries :]
        mass = _row_sums(queries.rows, queries.values, queries.n_rows)
        loglik += mass[:, None] * self.bayes_base
        loglik /= w.bayes_temperature
        loglik -= np.maximum.reduce(loglik, axis=1, keepdims=True)
        bayes = np.exp(loglik)
        bayes /= np.add.reduce(bayes, axis=1, keepdims=True)
        top = min(FUZZ_CANDIDATES, n_questions)
        picked = (-similarity).argpartition(top - 1, axis=1)[:, :top]
        ratios = np.concatenate(
            [
                process.cdist([view.fuzz_text], self.fuzz_texts[row].tolist(), scorer=fuzz.ratio)
                for view, row in zip(views, picked, strict=True)
            ]
        )
        # each entry's best candidate, as nearest: the candidates' scores in their questions'
        # places (a row's candidates are distinct), the rest 0, the most of each entry's
        # questions (twice as fast as np.maximum.at over the candidates' entries)
        fuzzed = np.zeros(similarity.shape)
        fuzzed[np.arange(len(views))[:, None], picked] = ratios / 100.0
        edit = np.maximum.reduceat(fuzzed, self.starts, axis=1)
        blend = w.nearest * nearest + w.centroid * centroid + w.bayes * bayes + w.fuzz * edit
        if self.classifier is not None:
            classifier = self._classify(queries, *self.classifier)
            blend += w.classifier * classifier / np.add.reduce(classifier, axis=1, keepdims=True)
        else:
            blend /= 1.0 - w.classifier
        coverage = self._coverage(views)
        blend *= 1.0 - self.coverage_strictness / 100.0 * (1.0 - coverage)
        blend *= 100.0
        return np.minimum(np.maximum(blend, 0.0, out=blend), 100.0, out=blend), coverage

    def _classify(self, queries: _Rows, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """The classifier's unnormalised posterior (views x entries): the query's word-level
        features scaled to unit length in float32, in ascending column order (as scipy did)."""
        positions = self.classifier_positions[queries.columns]
        kept = (positions >= 0).nonzero()[0][::-1]  # descending within a row: reversed
        kept = kept[queries.rows[kept].argsort(kind="stable")]
        rows, positions = queries.rows[kept], positions[kept]
        values = queries.values[kept].astype(np.float32)
        norms = np.sqrt(_row_sums(rows, values * values, queries.n_rows))
        norms[norms == 0] = 1.0
        values = (1.0 / norms).astype(np.float32)[rows] * values
        # each row's weight rows scaled and added in float32, one after the other in ascending
        # column order, in C and in place: scipy's sparse matrix x dense matrix loop
        # (csr_matvecs), as scipy's product adds them, without building a sparse matrix
        logits = np.zeros((queries.n_rows, weights.shape[1]), dtype=np.float32)
        _dense_products(
            queries.n_rows,
            weights.shape[0],
            weights.shape[1],
            _row_pointers(rows, queries.n_rows),
            positions,
            values,
            weights.ravel(),
            logits.ravel(),
        )
        logits += bias
        logits -= np.maximum.reduce(logits, axis=1, keepdims=True)
        return np.exp(logits)

    def _coverage(self, views: list[_Analysis]) -> np.ndarray:
        """Share of each message's salient (IDF-weighted) words that each entry uses (views x
        entries), context words counting CONTEXT_WEIGHT of a question word. Every entry gets
        it, so an entry is never ahead merely because its coverage was not looked at."""
        all_units = [unit for view in views for unit in view.units]
        if not all_units:
            return np.ones((len(views), len(self.entry_ids)))
        vocabulary = self.space.vocabulary
        covers = [cover for _, cover in all_units]
        cover_lengths = np.fromiter(map(len, covers), np.int64, len(covers))
        columns = np.fromiter(
            map(vocabulary.get, itertools.chain.from_iterable(covers), itertools.repeat(-1)),
            dtype=np.int64,
            count=int(np.add.reduce(cover_lengths)),
        )
        cover_units = np.arange(len(all_units)).repeat(cover_lengths)
        known = columns >= 0
        weighing = np.fromiter(
            map(vocabulary.get, map(_first, all_units), itertools.repeat(-1)),
            dtype=np.int64,
            count=len(all_units),
        )
        unit_weights = np.where(weighing >= 0, self.space.idf[weighing], self.space.unknown_idf)
        # where each view's units start, and the end (as ints: numpy's scalars are slow to add to)
        starts = list(itertools.accumulate((len(view.units) for view in views), initial=0))
        context = [
            first + i for first, view in zip(starts[:-1], views, strict=True) for i in view.context
        ]
        unit_weights[context] *= CONTEXT_WEIGHT
        # which units each entry covers: the entries that use each known cover feature (the
        # rows of entry_uses gathered), marked per unit
        n_entries = len(self.entry_ids)
        columns = columns[known]
        entries, lengths = _gathered_columns(self.entry_uses, columns)
        # (units x entries, and a last column of 1s: the unit itself)
        covered = np.zeros((len(all_units), n_entries + 1))
        covered[:, n_entries] = 1.0
        cells = (cover_units[known] * (n_entries + 1)).repeat(lengths)
        cells += entries
        covered.ravel()[cells] = 1.0
        # each view's weights of the units an entry covers, and of all its units, added unit by
        # unit in C (scipy's csr_matvecs: the views' unit weights times `covered`)
        sums = np.zeros((len(views), n_entries + 1))
        _dense_products(
            len(views),
            len(all_units),
            n_entries + 1,
            np.array(starts, dtype=np.int64),
            np.arange(len(all_units), dtype=np.int64),
            unit_weights,
            covered.ravel(),
            sums.ravel(),
        )
        share, total = sums[:, :n_entries], sums[:, n_entries]
        coverage = share / np.where(total > 0, total, 1.0)[:, None]
        coverage[total == 0] = 1.0
        return coverage

    def _names_home(self, place: Place, knows_place: _KnowsPlace) -> bool:
        """Whether a place is one of the knowledge base's home places as named (驿站, 社区食堂,
        "the station"; not 菜鸟驿站 or "the subway station"). `knows_place`: _knows_place, or
        a cache of it."""
        return knows_place(place, None)

    def _looks_home(self, place: Place, knows_place: _KnowsPlace) -> bool:
        """Another's place by the name of one of ours (菜鸟驿站, 公司食堂, "the subway station")."""
        before, head = place
        return not self._names_home(place, knows_place) and any(
            _chars((*before[len(before) - k :], *head)) in self.home_places
            for k in range(max(1, 2 - len(head)), len(before) + 1)  # two units at least
        )

    def _knows_place(self, place: Place, text: _PlaceText | None) -> bool:
        """The place rule for one place: the longest part of it ending in its head that `text`
        (an entry's place text) has or that is a home place, and the words before that part
        say where or when, or are words the entry or a home place uses. A single Chinese
        character before the known part is the end of the words before it (不想烧驿站, 不太熟
        市民驿站), not a name: the names of other places have two at least (杭州, 公司, 菜鸟)."""
        before, head = place
        home = self.home_places
        for known in range(len(before), -1, -1):
            part = before[len(before) - known :]
            # an area's name is read whole: 嘉兴路街道 | 驿站, not 街 | 道驿站 (道驿 sounds like
            # the 到驿 of 到驿站)
            if known and _AREA_END.search("".join(_chars(before[: len(before) - known + 1]))):
                continue
            if (text is not None and text.has(part, head)) or _chars((*part, *head)) in home:
                break
        else:
            return False
        if not known and not head[0].isascii() and len(head) == 1 and text is None:
            return False  # a home place of one character (站, 场) is no place of its own
        modifier = before[: len(before) - known][-PLACE_MODIFIER_WORDS:]
        area = "".join(_chars(before[: len(before) - known]))
        if _AREA_END.search(area):
            return any(known_area.endswith(area) for known_area in self.home_areas)
        if (
            not modifier
            or (text is not None and text.has(modifier))
            or modifier[-1].split("/")[0] in PLACE_LOCATORS
            or _WEEKDAY.search("".join(_chars(modifier))) is not None
            or (len(modifier) == 1 and not modifier[0].isascii())
        ):
            return True
        # a home place owns it (驿站食堂): when that place is ours (闵行驿站的食堂 is not)
        named = _chars(modifier)
        owners = [len(h) for h in home if len(h) <= len(named) and named[-len(h) :] == h]
        if not owners:
            return False
        end = len(before) - known
        return self._knows_place(
            (before[: end - max(owners)], before[end - max(owners) : end]), None
        )

    def _names_only_its_places(self, view: _Analysis, entry: int, knows_place: _KnowsPlace) -> bool:
        """The place rule (see PLACE_HEADS_ZH): the message names no place or organisation but
        this entry's, neither by a place word nor by a name the knowledge base never uses
        leading the message (盒马几点关门) or its question (the context of a spoken message is
        where such a word leads: 她一个人很寂寞 | 驿站可以许微心愿吗)."""
        known_features = self.entry_features[entry]
        for at, (weight_feature, cover) in enumerate(view.units):
            # ages, amounts and years are no names; a hotline's number is (12345, 96110)
            if at in view.context or _QUANTITY.fullmatch(weight_feature):
                continue
            if not known_features.isdisjoint(cover):
                break
            if weight_feature not in self.space.vocabulary:
                return False  # a name the knowledge base never uses leads the message
        # ... nor by a name the knowledge base never uses as what opens or closes ("what time
        # does KFC open"): the English subject of a place's hours
        for (name, _), (verb, _) in itertools.pairwise(view.units):
            if verb in _HOURS_VERBS and name[0] == "w" and name not in self.space.vocabulary:
                return False
        text = self.entry_place_texts[entry]
        return all(knows_place(place, text) for place in view.places)

    # decision

    def _decide(
        self,
        text: str,
        scores: np.ndarray,
        coverages: np.ndarray,
        view: _Analysis,
        order: list[int],
        knows_place: _KnowsPlace,
    ) -> MatchResult:
        """The decision of one view; `order`: its best entries, best first; `knows_place`:
        _knows_place, or a cache of it."""
        # the warning for a card, code or password that is the resident's own errand, with no
        # one else in the message (银行卡密码忘了怎么办): the fraud entry is no candidate then
        fraud = self._fraud_row
        if (
            fraud in order
            and scores[fraud] >= self.suggest_threshold
            and own_errand(self._normal(text))
        ):
            order = [i for i in order if i != fraud]
            if not order:
                return self._nothing(text)
        values = scores[order].tolist()
        candidates = [(self.entry_ids[i], round(v, 1)) for i, v in zip(order, values, strict=True)]
        best = values[0]
        if candidates[0][0] == self._fraud_entry and best >= self.suggest_threshold:
            return self._warn(MatchResult(text, "answer", None, [], best, candidates))
        # a dictated message's score is lower than its typed question's (its context shares
        # few words with any entry), so there a clear winner also answers: at the suggest
        # threshold, DICTATED_MARGIN times the runner-up's score (docs/benchmarks.md)
        runner_up = values[1] if len(values) > 1 else 0.0
        clear = (
            view.dictated
            and best >= max(self.suggest_threshold, DICTATED_MARGIN * runner_up)
            # a question about a word no entry uses is about something else (会不会下雨)
            and not (view.question and any(f not in self.space.vocabulary for f, _ in view.units))
        )
        if (
            (best >= self.answer_threshold or clear)
            and coverages[order[0]] >= self.min_coverage
            and (
                not self.coverage_strictness
                or self._names_only_its_places(view, order[0], knows_place)
            )
        ):
            return MatchResult(text, "answer", candidates[0][0], [], best, candidates)
        suggestions = [i for i, s in candidates if s >= self.suggest_threshold][:MAX_SUGGESTIONS]
        if suggestions:
            return MatchResult(text, "suggest", None, suggestions, best, candidates)
        return MatchResult(text, "none", None, [], best, candidates)

    def _normal(self, text: str) -> str:
        """A message as matched: normalised, its first MAX_QUERY_CHARS characters."""
        return self.normalizer.normalize(str(text or ""))[:MAX_QUERY_CHARS]

    def _warn(self, result: MatchResult) -> MatchResult:
        """The fraud warning, whatever else the message shares with other entries: it is
        reported with the top score so that no caller mistakes it for a close call."""
        candidates = [(FRAUD_ENTRY, 100.0)]
        candidates += [c for c in result.candidates if c[0] != FRAUD_ENTRY][: MAX_CANDIDATES - 1]
        return MatchResult(result.query, "answer", FRAUD_ENTRY, [], 100.0, candidates)

    @staticmethod
    def _nothing(text: str) -> MatchResult:
        return MatchResult(text, "none", None, [], 0.0, [])
