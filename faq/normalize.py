"""Text normalisation for matching: one canonical form for what residents type, plus its features.

Handles full-width forms, Traditional characters, emoji, punctuation, filler words, synonyms
(饭堂 -> 食堂, 几钿 -> 多少钱), toneless "fuzzy" pinyin for homophone slips, and pinyin typed
without an input method ("shitang jidian kaimen").
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import NamedTuple

# Chinese characters (CJK Extension A, Unified Ideographs, Compatibility Ideographs)
CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{CJK}]")
_ASCII_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")  # str.isspace() for \x1c-\x1f
_ASCII_BREAK = re.compile(r"[^a-z0-9'\s]")
# voice input and some IMEs put spaces between Chinese words; they are not word breaks to keep
# (the character before the spaces looked at after their first, so that the pattern opens with a
# class and `re` scans for it: see _ZH_PHRASE_RE)
_CJK_GAP = re.compile(f"[^\\S\\n](?<=[{CJK}][^\\S\\n])[^\\S\\n]*(?=[{CJK}])")
# a run of CJK characters, or one latin/digit word (apostrophes inside English words kept)
_TOKEN = re.compile(f"[{CJK}]+|[a-z0-9]+(?:'[a-z]+)?")

# Said before a question without changing what is asked. Each is a phrase, never part of a
# word: wherever it stands it is removed and ends a clause. The modal particles are removed only
# at a clause's edge, so that they never cut a word (酒吧). Call openers need no entry here: 喂 is
# a grammar character (ZH_STOPCHARS), so 喂奶 keeps its 奶, and 你好 is a word the FAQ uses.
_ZH_FILLERS = (
    "麻烦问一下",
    "我想问一下",
    "我想问问",
    "想问一下",
    "请问一下",
    "打听一下",
    "我想请问",
    "我想问",
    "想问问",
    "问一下",
    "请问",
    "麻烦你",
    "麻烦",
    "那个",
    # the framing of a spoken message (issue 15): 是这样的, 就是, 我听说 ...
    "是这样的",
    "就是说",
    "就是讲",
    "就是",
    "我听说",
    "听说",
    "我想知道",
    "想知道",
    "我问一下",
    "我问问",
    "问一声",  # Shanghainese 问一下
    # the conjunctions a spoken line strings its clauses with
    "但是",
    "可是",
    "不过",
    "所以",
    "因为",
    "然后",
    "而且",
    "其实",
)
# adverbs of a spoken question that change nothing it asks (驿站到底在哪里, 蒸蛋之类的): removed
# as the fillers are
_ZH_HEDGES = ("到底", "究竟", "之类的", "什么的", "比较")
# interjections, part of no word: removed wherever they stand, ending a clause (她很孤单嗯驿站...)
_ZH_INTERJECTIONS = "嗯呃哎唉诶欸"
# modal particles: removed at either edge of a clause (啊食堂..., 食堂几点开呢), never inside
# one; 吗 and 吧 only at its end
_ZH_PARTICLES = "啊呢呀哦嘛啦哈噢喔哇" + _ZH_INTERJECTIONS
_ZH_FINAL_PARTICLES = _ZH_PARTICLES + "吗吧"
_EN_FILLERS = (
    "could you please tell me",
    "can you please tell me",
    "could you tell me",
    "can you tell me",
    "i would like to know",
    "i'd like to know",
    "i want to know",
    "i want to ask",
    "go about",  # how do i go about donating
    "please",
    "pls",
    "plz",
)

# Who is asking for whom (issue 15): a relative says so before the question. The relatives are
# written as synonyms.yaml's canonical words (外婆 -> 老人) before these apply.
_RELATIVES_ZH = "老人|爸爸|妈妈|家人|父母|爸妈|邻居"
# 我?是?[帮替代] and 我?跟 written as one alternative for each character they can open with (see
# _ZH_PHRASE_RE)
_ON_BEHALF = ("我是?[帮替代]", "是[帮替代]", "帮", "替", "代")
_ZH_FRAMING = (
    *(
        f"{opening}(?:我们?[{CJK}]{{0,3}}?|们?(?:{_RELATIVES_ZH})?)(?:问|打听)一?[下问声]?的?"
        for opening in _ON_BEHALF
    ),
    # and the relative described (我是帮我一个人住的外公打听的)
    *(
        f"{opening}我们?[{CJK}]{{0,6}}?的(?:{_RELATIVES_ZH})(?:问|打听)一?[下问声]?的?"
        for opening in _ON_BEHALF
    ),
    "我跟你[讲说]一?下?",
    "跟你[讲说]一?下?",
    "我跟你们[讲说]",
    "你听我[讲说]",
)
_RELATIVES_EN = (
    "mum|mom|mother|dad|father|parents?|grandma|grandmother|grandpa|grandfather|granny|"
    "grandparents?|elderly|aunt|uncle|husband|wife|son|daughter|neighbour|friend"
)
# (each alternative opens with a plain letter: see _EN_FILLER_RE)
_EN_FRAMING = (
    rf"i'?m asking (?:for|on behalf of) (?:my|our) (?:{_RELATIVES_EN})",
    *(
        rf"{whose} (?:{_RELATIVES_EN}) (?:wants|would like|asked me) to (?:know|ask)"
        for whose in ("my", "our")
    ),
    *("um+", "uh+", "erm", "hmm+", "yeah"),
)
# whole words only: no letter, digit or apostrophe before an alternative's first letter, checked
# after it (`u(?<![a-z0-9']u)m+`, as the synonym alternation does), so that `re` skips the
# positions where no alternative can start (eight times faster than the check first)
_EN_FILLER_RE = re.compile(
    "|".join(
        rf"{f[0]}(?<![a-z0-9']{f[0]}){f[1:]}(?![a-z0-9'])"
        for f in [*_EN_FRAMING, *map(re.escape, _EN_FILLERS)]
    )
)
LATIN_LETTER = re.compile("[a-z]")
# Every alternative opens with a plain character: `re` then tries the pattern only where one of
# those characters is, rather than every alternative at every position (an eighth of the
# instructions on a long message of when some alternatives opened with a class or an optional
# character)
_ZH_PHRASE_RE = re.compile(
    "|".join(
        [
            *_ZH_FRAMING,
            *map(re.escape, sorted(_ZH_FILLERS + _ZH_HEDGES, key=len, reverse=True)),
            *(f"{first}[{_ZH_INTERJECTIONS}]*" for first in _ZH_INTERJECTIONS),
        ]
    )
)
# 那个 between two words of a line points at the second (苏州那个食堂 is 苏州食堂): it goes
# without ending the clause, so the words before a place still say which one
_ZH_DEMONSTRATIVE_RE = re.compile(f"那(?<=[{CJK}]那)个(?=[{CJK}])")
_ZH_LEADING_RE = re.compile(f"^[{_ZH_PARTICLES}]+")
# (its first character written apart: `re` scans for a pattern's first character only when it
# opens with a character or a class, not with a repeat)
_ZH_TRAILING_RE = re.compile(f"[{_ZH_FINAL_PARTICLES}][{_ZH_FINAL_PARTICLES}]*$")

# Homophone slips from pinyin input are rarely exact: IMEs and southern accents blur these
# initials and finals (standard "fuzzy pinyin" pairs, plus aspiration pairs t/d, p/b, k/g).
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("l", "n"), ("t", "d"), ("p", "b"))
_FUZZY_INITIALS += (("k", "g"),)

# English words too common to tell entries apart; they never count against coverage.
_EN_STOPWORDS = """a an the is are was were be been am do does did i me my you your we our us it
its to of in on at for with and or can could would will should may might there here this that what
when where how who which why some any please hi hello want need like get make know tell ask
let go just also about from as by if so not no yes ok okay they them their he she his her
has have had say said told hear heard got one kind sort maybe really actually exactly sorry
hey yeah still yet whether try love wonder wondering thing things lot lots very well"""
EN_STOPWORDS = frozenset(_EN_STOPWORDS.split())
# Chinese characters that carry grammar or ask "what/how/who" rather than name a topic.
ZH_STOPCHARS = frozenset(
    "的了吗呢吧啊呀么是我你您他她们在有要想能可以会个这那就也都还和与或去"
    "什怎哪些谁多少几请问一下得着过把给让对从到来找弄不没喂"
    # adverbs of degree and time, part of no name (很远, 蛮好, 又摔了, 刚搬来, 已经)
    "很太蛮挺再又才刚已"
)


def detect_language(text: str) -> str:
    """ "zh" when the text has any CJK character, else "en"."""
    return "zh" if _CJK_CHAR.search(text or "") else "en"


@functools.cache
def _t2s():  # type: ignore[no-untyped-def]
    import opencc  # lazy: only text with CJK characters needs it

    return opencc.OpenCC("t2s")


class _T2sTables(NamedTuple):
    """opencc's t2s tables as `to_simplified` reads them."""

    phrases: dict[str, str]  # each with the first of its values
    prefixes: frozenset[str]  # the proper prefixes of the phrases
    longest: int  # the longest phrase
    firsts: re.Pattern[str]  # the phrases' first characters
    chars: dict[str, str]  # each with the first of its values
    changed_chars: frozenset[str]  # the characters the conversion changes
    changed_phrases: re.Pattern[str]  # the phrases it changes


@functools.cache
def _t2s_tables() -> _T2sTables | None:
    """opencc's t2s tables, read once for `to_simplified`. None if they are not the one group
    of phrases then characters that this opencc has: then `to_simplified` is opencc's own
    conversion."""
    converter = _t2s()
    converter.convert("")  # loads its dictionaries
    try:
        ((longest, shortest, phrase_map), (char_longest, _, char_map)) = converter._dict_chain_data[
            0
        ]
        if len(converter._dict_chain_data) != 1 or shortest < 2 or char_longest != 1:
            return None
        phrases = {key: value.split(" ")[0] for key, value in phrase_map.items()}
        chars = {key: value.split(" ")[0] for key, value in char_map.items()}
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    prefixes = frozenset(key[:end] for key in phrases for end in range(2, len(key)))
    firsts = re.compile("[" + re.escape("".join(sorted({key[0] for key in phrases}))) + "]")
    changed_chars = frozenset(key for key, value in chars.items() if key != value)
    changed_phrases = re.compile("|".join(re.escape(k) for k, v in phrases.items() if k != v))
    return _T2sTables(phrases, prefixes, longest, firsts, chars, changed_chars, changed_phrases)


def to_simplified(text: str) -> str:
    """opencc's t2s conversion, as opencc computes it, in linear time. opencc (pure Python)
    converts each run between separators by taking the longest phrase anywhere in it (the
    leftmost of equal ones), then the longest in what is left on either side, and so on, then
    each remaining character: about 2 ms for a long message. The same result is the phrases
    found at every position taken longest first, leftmost first, each unless it overlaps one
    taken before; what is left goes character by character. Text with nothing the conversion
    changes is returned as it is (the 么 of 什么 changes only in 么麼)."""
    tables = _t2s_tables()
    if tables is None:
        return str(_t2s().convert(text))
    phrases, prefixes, longest, firsts, chars, changed_chars, changed_phrases = tables
    if changed_chars.isdisjoint(text) and not changed_phrases.search(text):
        return text
    out = list(map(chars.get, text, text))
    found = []
    for hit in firsts.finditer(text):
        start = hit.start()
        for end in range(start + 2, min(start + longest, len(text)) + 1):
            part = text[start:end]
            if part in phrases:
                found.append((start - end, start))
            if part not in prefixes:
                break
    taken = [False] * len(text)
    for length, start in sorted(found):
        end = start - length
        if not any(taken[start:end]):
            taken[start:end] = [True] * (end - start)
            out[start:end] = [phrases[text[start:end]], *[""] * (end - start - 1)]
    return "".join(out)


class _CleanTable(dict[int, str | None]):
    """What `_clean` makes of each character, for str.translate, filled as characters come:
    combining marks, zero-width and other invisible characters go (no break); letters,
    digits, apostrophes and spaces stay; punctuation, symbols and emoji become line breaks.
    Characters outside the first planes are not kept (a message could name many)."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        if category in ("Mn", "Mc", "Cf", "Co", "Cn", "Cs") or (
            category == "Cc" and not char.isspace()
        ):
            value = None
        elif category[0] in "LN" or char == "'" or char.isspace():
            value = char
        else:
            value = "\n"
        if code < 0x30000:
            self[code] = value
        return value


_CLEAN_TABLE = _CleanTable()
# the characters the table changes: all but letters, numbers, apostrophes and white space (`\w`
# is letters, numbers and "_"), the same on every code point (tests/test_matcher.py). Found by
# `re` and looked up one by one, rather than every character of a message through the table
_CHANGED = re.compile(r"[^\w'\s]|_")


def _changed(match: re.Match[str]) -> str:
    return _CLEAN_TABLE[ord(match.group())] or ""


def _clean(text: str) -> str:
    """NFKC, Traditional -> Simplified, casefold; punctuation, symbols, emoji, controls -> space."""
    if text.isascii():  # fast path (English): nothing to fold but case and punctuation
        return " ".join(_ASCII_BREAK.sub(" ", _ASCII_INVISIBLE.sub("", text).casefold()).split())
    text = unicodedata.normalize("NFKC", text)
    if _CJK_CHAR.search(text):
        text = to_simplified(text)
    # punctuation, symbols and emoji became line breaks: they separate, plain spaces between
    # Chinese characters do not
    text = _CJK_GAP.sub("", _CHANGED.sub(_changed, text.casefold()))
    return " ".join(text.split())


def _variants(group: tuple[str, list[tuple[str, bool]]]) -> str:
    """The synonym variants that open with one character, as one alternative: each variant's
    rest, and whether it is latin (see Normalizer)."""
    first, rests = group
    first = re.escape(first)
    # latin variants match whole words only ("pub" is not in "public"): no letter, digit or
    # apostrophe before the first character, checked after it, so that every alternative starts
    # with a plain character and `re` skips the positions where none can start (ten times faster
    # than the check first); when they all are, checked once for all of them (inside a word
    # `re` would check it for each)
    whole_word = rf"(?<![a-z0-9']{first})"
    if all(latin for _, latin in rests):
        alternatives = "|".join(rf"{re.escape(rest)}(?![a-z0-9'])" for rest, _ in rests)
        return rf"{first}{whole_word}(?:{alternatives})"
    alternatives = "|".join(
        rf"{whole_word}{re.escape(rest)}(?![a-z0-9'])" if latin else re.escape(rest)
        for rest, latin in rests
    )
    return f"{first}(?:{alternatives})"


class Normalizer:
    """Turns raw text into a canonical form, applying a knowledge base's synonyms."""

    def __init__(self, synonyms: Mapping[str, Iterable[str]] | None = None) -> None:
        self._replacement: dict[str, str] = {}
        for canonical, variants in (synonyms or {}).items():
            target = _clean(str(canonical))
            for variant in variants:
                # a word listed as its own variant is kept whole (支付宝 is not 付钱宝)
                key = _clean(str(variant))
                if key:
                    self._replacement[key] = target
        self._synonym_re: re.Pattern[str] | None = None
        if self._replacement:
            # the variants by their first character, longest first (the longest one found at a
            # position is replaced): `re` tries at each position only the variants that start
            # with its character (twice as fast as trying every variant)
            groups: dict[str, list[tuple[str, bool]]] = {}
            for key in sorted(self._replacement, key=len, reverse=True):
                groups.setdefault(key[0], []).append((key[1:], not _CJK_CHAR.search(key)))
            self._synonym_re = re.compile("|".join(map(_variants, groups.items())))

    def normalize(self, text: str) -> str:
        """The canonical form of `text`: what matching compares."""
        text = _clean(text)
        if self._synonym_re is not None:
            text = self._synonym_re.sub(lambda m: self._replacement[m.group(0)], text)
        clauses = []
        text = _ZH_DEMONSTRATIVE_RE.sub("", text)
        # every English filler and framing has a latin letter: Chinese text skips that search
        spoken = _EN_FILLER_RE.sub(" ", text) if LATIN_LETTER.search(text) else text
        for clause in _ZH_PHRASE_RE.sub(" ", spoken).split():
            # only a clause that opens or ends with a particle has one to take off (a word of
            # split() is never empty): two string tests rather than a search for Chinese
            if clause[0] in _ZH_PARTICLES or clause[-1] in _ZH_FINAL_PARTICLES:
                clause = _ZH_TRAILING_RE.sub("", _ZH_LEADING_RE.sub("", clause))
            if clause:
                clauses.append(clause)
        # a question that is nothing but filler ("请问", "please") keeps its words
        return " ".join(clauses) or text


def tokens(text: str) -> list[str]:
    """CJK runs and latin/digit words of normalised text, in order."""
    return _TOKEN.findall(text)


def is_cjk(token: str) -> bool:
    """Whether a token opens with a CJK character. Compared with CJK's ranges rather than
    matched with `_CJK_CHAR`: the matcher asks it of every token of every view, and a regex
    call costs several times the comparisons."""
    first = token[:1]
    return (
        "\u4e00" <= first <= "\u9fff"
        or "\u3400" <= first <= "\u4dbf"
        or "\uf900" <= first <= "\ufaff"
    )


@functools.cache
def _pinyin_module():  # type: ignore[no-untyped-def]
    # pypinyin's phrase dictionary (multi-character readings) costs 45 MB and 0.2 s at start and
    # bought nothing measurable here: the same per-character reading is applied to the FAQ and
    # to the message, which is what homophone matching needs (docs/benchmarks.md).
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "true")
    import pypinyin  # lazy: only needed once a CJK text or pinyin word shows up

    return pypinyin


def fuzzy_syllable(syllable: str) -> str:
    """Folds a toneless syllable so that commonly confused sounds compare equal."""
    syllable = syllable.replace("v", "u").replace("ü", "u")
    for initial, folded in _FUZZY_INITIALS:
        if syllable.startswith(initial):
            syllable = folded + syllable[len(initial) :]
            break
    if syllable.endswith("ng") and len(syllable) > 2:  # an/ang, en/eng, in/ing
        syllable = syllable[:-1]
    return syllable


def cjk_pinyin(run: str) -> list[str]:
    """One fuzzy toneless syllable per character of a CJK run ("?" where none is known)."""
    return list(map(_PINYIN.__getitem__, run))


class _PinyinTable(dict[str, str]):
    """Each character's fuzzy toneless syllable, read from pypinyin on first use. Without the
    phrase dictionary a character reads the same in any context, so one reading per character
    serves every run (and keeps long messages fast)."""

    def __missing__(self, char: str) -> str:
        pypinyin = _pinyin_module()
        syllables = pypinyin.lazy_pinyin(char, style=pypinyin.Style.NORMAL, errors=lambda c: ["?"])
        self[char] = value = fuzzy_syllable(syllables[0]) if len(syllables) == 1 else "?"
        return value


_PINYIN = _PinyinTable()


@functools.cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable, read from pypinyin's character table."""
    from pypinyin.pinyin_dict import pinyin_dict

    found = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            plain = unicodedata.normalize("NFD", reading)
            plain = "".join(c for c in plain if not unicodedata.combining(c))
            found.add(plain.replace("ü", "v"))
    return frozenset(s for s in found if s.isascii() and s.isalpha())


def split_pinyin(word: str) -> list[str] | None:
    """Splits a latin word typed as pinyin ("shitang" -> [shi, tang]); None if it is not pinyin.

    Prefers the split with the fewest syllables, so "xian" stays one syllable.
    """
    if not word.isascii() or not word.isalpha() or len(word) > 40:
        return None
    valid = pinyin_syllables()
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 6), end):
            head = best[start]
            if head is not None and word[start:end] in valid:
                candidate = [*head, word[start:end]]
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    return best[len(word)]


def pinyin_reading(text: str) -> list[str] | None:
    """Fuzzy syllables of a latin-only text that reads entirely as pinyin, else None."""
    if _CJK_CHAR.search(text):  # it has a CJK token: found without cutting it into tokens
        return None
    words = [w.replace("'", "") for w in tokens(text)]
    if not words:
        return None
    syllables: list[str] = []
    for word in words:
        split = split_pinyin(word)
        if split is None:
            return None
        syllables.extend(split)
    return [fuzzy_syllable(s) for s in syllables]
