"""The matcher's targets on the project's own measured sets (tests/data, written by people who had
not seen the FAQ): fraud warnings first, other places not answered, typed questions no worse.

The *-tune.yaml files were used while tuning; lookalike.yaml and fraud.yaml only measure
(docs/benchmarks.md says how each was used).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from faq.loader import load
from faq.matcher import FRAUD_ENTRY, Matcher
from handlers.match_cli import Evaluation, evaluate_items, read_eval_file

DATA = Path(__file__).resolve().parent / "data"
DEV_SET = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "station-dev.yaml"


@pytest.fixture(scope="module")
def bundled() -> Matcher:
    return Matcher(load(None))


def measure(matcher: Matcher, name: str) -> Evaluation:
    return evaluate_items(matcher, read_eval_file(str(DATA / name)))


@pytest.mark.parametrize("name", ["fraud.yaml", "fraud-tune.yaml"])
def test_fraud_messages_get_the_warning(bundled: Matcher, name: str) -> None:
    items = read_eval_file(str(DATA / name))
    assert len(items) >= 40 and all(item[1] == FRAUD_ENTRY for item in items)
    evaluation = evaluate_items(bundled, items)
    assert evaluation.correct / evaluation.in_scope >= 0.95


@pytest.mark.parametrize("name", ["lookalike.yaml", "lookalike-tune.yaml"])
def test_look_alikes_are_rarely_answered(bundled: Matcher, name: str) -> None:
    evaluation = measure(bundled, name)
    assert evaluation.out_of_scope >= 80
    assert evaluation.false_answers / evaluation.out_of_scope <= 0.02


def test_no_ordinary_question_gets_the_fraud_warning(bundled: Matcher) -> None:
    sets = ["lookalike.yaml", "lookalike-tune.yaml", "dictated-tune.yaml", "dictated-heldout.yaml"]
    sets += ["dictated-final.yaml", "dictated-final2.yaml", "dictated-final3.yaml"]
    sets += ["dictated-tune4.yaml", "dictated-tune5.yaml", "dictated-tune6.yaml"]
    sets += ["dictated-tune7.yaml", "dictated-tune8.yaml"]
    sets += ["matcher-regression.yaml"]
    items = [item for name in sets for item in read_eval_file(str(DATA / name))]
    questions = [q for q, expect in items if expect != FRAUD_ENTRY]
    warned = [r.query for r in bundled.match_many(questions) if r.id == FRAUD_ENTRY]
    assert warned == []


@pytest.mark.skipif(not DEV_SET.exists(), reason="../shared/eval is not beside the project")
def test_dev_set_is_no_worse(bundled: Matcher) -> None:
    evaluation = evaluate_items(bundled, read_eval_file(str(DEV_SET)))
    assert (evaluation.correct, evaluation.in_scope) == (86, 86)
    assert evaluation.wrong == 0 and evaluation.false_answers == 0


def test_regression_set_is_no_worse(bundled: Matcher) -> None:
    evaluation = measure(bundled, "matcher-regression.yaml")
    assert evaluation.correct >= 48 and evaluation.reached == evaluation.in_scope
    assert evaluation.wrong == 0 and evaluation.false_answers == 0


def test_dictated_tuning_set_holds(bundled: Matcher) -> None:
    evaluation = measure(bundled, "dictated-tune.yaml")
    assert evaluation.correct / evaluation.in_scope >= 0.95  # 114/118 = 0.966 (0.924, 0.907)
    assert evaluation.wrong / evaluation.in_scope <= 0.02
    assert evaluation.false_answers / evaluation.out_of_scope <= 0.03


def test_dictated_second_half_holds(bundled: Matcher) -> None:
    # scored once as a held-back set (0.471), then tuned on (issue 15): a floor, not a promise
    evaluation = measure(bundled, "dictated-heldout.yaml")
    assert evaluation.correct / evaluation.in_scope >= 0.93  # 114/121 = 0.942 (0.926, 0.884)
    assert evaluation.false_answers / evaluation.out_of_scope <= 0.03  # 0/19
    assert evaluation.wrong <= 2  # 2/121 = 0.017 (was 3)


def test_dictated_held_back_set_holds(bundled: Matcher) -> None:
    # written by a helper who saw neither the FAQ nor the code, kept outside the repository
    # and scored once (issue 15): 102/119 = 0.857 answered, 0 wrong, 1 of 22 out of scope
    # answered (a weather question). Tuned on since: 112/119, 1 wrong, 0 of 22
    evaluation = measure(bundled, "dictated-final.yaml")
    assert evaluation.correct / evaluation.in_scope >= 0.92
    assert evaluation.wrong / evaluation.in_scope <= 0.02
    assert evaluation.false_answers == 0


def test_second_held_back_set_holds(bundled: Matcher) -> None:
    # written like dictated-final.yaml, kept outside the repository and scored once
    # (2026-11-30): 84/118 = 0.712 answered, 1 wrong, 2 of 27 out of scope answered, both
    # with the fraud warning (给他带饭, 给她充话费 read as handing money over). Tuned on since:
    # 108/118 = 0.915, 0 wrong, 0 of 27; 106/118 since the fourth session (CLAUSE_WHOLE_FLOOR
    # and another's place by our place's name kept in the context each took one)
    evaluation = measure(bundled, "dictated-final2.yaml")
    assert evaluation.correct / evaluation.in_scope >= 0.89
    assert evaluation.wrong == 0
    assert evaluation.false_answers == 0


def test_third_held_back_set_holds(bundled: Matcher) -> None:
    # written like the others, kept outside the repository and scored once at the end of
    # this session's work on issue 15 (commit 54ca83c): 96/122 = 0.787 answered, 3 wrong, 1 of
    # 28 out of scope answered (the fraud warning for topping up a phone: fixed since, a
    # product fix, not tuning). Tuned on since (the next session): 112/122 = 0.918, 1 wrong, 0
    # of 28
    evaluation = measure(bundled, "dictated-final3.yaml")
    assert evaluation.correct / evaluation.in_scope >= 0.90
    assert evaluation.wrong <= 1
    assert evaluation.false_answers == 0


@pytest.mark.parametrize(
    ("name", "floor", "wrong", "false_answers"),
    [
        # held back: scored once at the end of a session's work, not tuned on
        # written like the others, kept outside the repository and scored once at the end of
        # the third session's work on issue 15 (commit f6d5947): 113/122 = 0.926 answered, 1
        # wrong, 1 of 28 out of scope answered (0.036: the fraud warning for a daughter sending
        # health products home through customs). Four messages identical to FAQ questions taken
        # out since (see its header): 109/118; 108/118 since the fourth session (the aid topics'
        # own names as questions gave seven answers on the tuning sets and took this one)
        ("dictated-final4.yaml", 0.91, 1, 1),
        # 200 messages (50 out of scope, deliberately hard), scored once at the end of the
        # fourth session's work (commit 921fa1b): 138/150 = 0.920 answered, 0 wrong, 1 of 50 out
        # of scope answered (0.020: the fraud warning for a pension's rise heard from others:
        # fixed since, as a rule, after it was scored). Seven messages identical to FAQ
        # questions taken out since (see its header): 131/143
        ("dictated-final5.yaml", 0.91, 0, 0),
        # each scored once before it was tuned on (see its header): floors, not promises
        ("dictated-tune4.yaml", 0.90, 2, 0),  # 108/119 when written down
        ("dictated-tune5.yaml", 0.86, 1, 1),  # 101/117
        ("dictated-tune6.yaml", 0.84, 1, 2),  # 100/118
        ("dictated-tune7.yaml", 0.81, 3, 0),  # 95/116
        ("dictated-tune8.yaml", 0.87, 0, 4),  # 106/120
        # 200 each, 50 out of scope (the fourth session)
        ("dictated-tune9.yaml", 0.85, 2, 2),  # 127/146
        ("dictated-tune10.yaml", 0.88, 0, 1),  # 129/145
        ("dictated-tune11.yaml", 0.88, 1, 1),  # 130/145
        ("dictated-tune12.yaml", 0.93, 1, 3),  # 138/145
        ("dictated-tune13.yaml", 0.85, 0, 0),  # 124/145
        ("dictated-tune14.yaml", 0.85, 4, 1),  # 122/142
        ("dictated-tune15.yaml", 0.91, 2, 2),  # 132/144
        ("dictated-tune16.yaml", 0.93, 0, 0),  # 136/145
        # typed messages, and frauds with harmless messages and look-alikes by their words (the
        # ninth session): scored once before tuning, 137/150 with 3 wrong and 2/50 false; 68/75
        # (53 of 60 frauds) with 0 wrong and 6/85 false
        ("typed-tune.yaml", 0.90, 3, 2),  # 126/139
        ("fraud-lookalike-tune.yaml", 0.98, 0, 4),  # 75/75
        # rewordings (indirect, other registers, long and voice-typed), and a second set of
        # frauds, harmless messages and look-alikes: 125/160, 3 wrong, 0/40 false; 71/83 (51 of
        # 55 frauds), 4 wrong, 4/77 false when scored once
        ("rewordings-tune.yaml", 0.78, 2, 0),  # 123/157
        ("fraud-lookalike-tune2.yaml", 0.92, 1, 4),  # 77/83
    ],
)
def test_later_sets_hold(
    bundled: Matcher, name: str, floor: float, wrong: int, false_answers: int
) -> None:
    evaluation = measure(bundled, name)
    assert evaluation.correct / evaluation.in_scope >= floor
    assert evaluation.wrong <= wrong
    assert evaluation.false_answers <= false_answers


def test_giving_something_to_a_relative_is_no_fraud(bundled: Matcher) -> None:
    """给他/给她 hands money over only with money named (钱交给他, 把卡给她); bringing food or
    topping up a phone for someone is an ordinary question."""
    for text in (
        "我要不要给他带饭",
        "怎么给她手机充话费",
        "你们能给她送饭上门吗",
        "电费欠了怎么交电费",
    ):
        assert bundled.match(text).id != FRAUD_ENTRY, text
    for text in ("他打电话叫我把钱交给他", "有人上门说要把银行卡给他保管"):
        assert bundled.match(text).id == FRAUD_ENTRY, text


def test_money_for_the_family_is_no_fraud_unless_a_stranger_or_a_bait_is_in_it(
    bundled: Matcher,
) -> None:
    for text in (
        "过年了想给外孙包个两千块的红包 现在微信上怎么发红包",
        "儿子说下个月要结婚 我想给他转五万块 银行转账有没有限额",
        "我们合唱团想买演出服 听说基金会的文化项目能资助 是真的吗",  # 基金会 is no fund
        "my accountant says I need a receipt for the tax deduction on my donation",
        "外甥下个月买房子 当面跟我借五万块 我想借给他 转账好还是给现金好",
        "侄女问我借两万块装修 借给她的话利息要不要算",  # a family loan's interest
        "女儿让我用手机交水费 我老是输错密码 驿站有没有人能教教我",  # the family's advice
        "my neighbours keep saying charities waste money, does the foundation publish its accounts",
        "my accountant says I need a receipt for the 500 yuan I donated",  # no caller's claim
        "what time is dinner at the canteen, and is it ok to pay by card",
        "12345热线上次打过去说有人来处理 周末有没有人接 能不能直接转到人工",
        "我在外地 想给老年基金会捐款 有没有网上捐的办法 汇款可以吗",  # giving online
    ):
        assert bundled.match(text).id != FRAUD_ENTRY, text
    for text in (
        "孙子打电话说被抓了 要我转两万块给他",  # a bait
        "有人打电话说是我孙子 让我给他转五千块",  # a stranger
        "我外孙说他手机换了新号 让我给他转三千块交学费",
        "孙子打电话让我转五千块给他同学",  # a call asking for money
        "a man called saying my grandson was arrested and needs money for bail",
    ):
        assert bundled.match(text).id == FRAUD_ENTRY, text


def test_no_question_of_an_evaluation_set_is_in_the_faq() -> None:
    """The sets measure how the bot generalises: a phrasing copied from one into the FAQ
    would only memorise it. Compared as written, but for width, case, punctuation and spaces.
    (matcher-regression.yaml is the matcher's own unit cases: "hello" must stay a greeting.)"""

    def plain(text: str) -> str:
        return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())

    phrasings = {
        plain(question)
        for entry in load(None).entries
        for questions in entry.questions.values()
        for question in questions
    }
    files = [path for path in sorted(DATA.glob("*.yaml")) if path.name != "matcher-regression.yaml"]
    files += [DEV_SET] if DEV_SET.exists() else []
    copied = [
        (path.name, question)
        for path in files
        for question, _ in read_eval_file(str(path))
        if plain(question) in phrasings
    ]
    assert copied == []
