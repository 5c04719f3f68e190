"""Answer extraction, normalization, equivalence and grouping."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.tasks import symbolic
from lab.tasks.answers import (
    RULES,
    answers_equivalent,
    extract_answer,
    group_answers,
    majority,
    normalize_answer,
)
from lab.tasks.problem import AnswerKind

MATH = AnswerKind.MATH


# --- extraction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "rule"),
    [
        (r"so $x = \boxed{\frac{1}{2}}$.", r"\frac{1}{2}", "boxed"),
        (
            r"\boxed{1} then \boxed{\left( 3, \frac{\pi}{2} \right)}",
            r"\left( 3, \frac{\pi}{2} \right)",
            "boxed",
        ),
        (r"\boxed{7} and a cut-off \boxed{12", "7", "boxed"),
        (r"\fbox{ 42 }", "42", "boxed"),
        ("48/2 = 24 clips.\n#### 72", "72", "hash"),
        ("#### $1,000.\nmore text", "$1,000", "hash"),
        ("The answer is 18.", "18", "answer-is"),
        ("The final answer is: **$18.90**.", "$18.90", "answer-is"),
        ("Answer: 3.5", "3.5", "answer-is"),
        (r"the answer is $\frac{3}{4}$, since 3/4 < 1", r"$\frac{3}{4}$", "answer-is"),
        ("The answer is 5. No wait, the answer is 6.", "6", "answer-is"),
        ("The answer isn't 5, it is 6", "6", "last-number"),
        ("I got 5, then 10-3 and finally 1,000.", "1,000", "last-number"),
        ("it costs -7 dollars", "-7", "last-number"),
        ("from 10-3", "3", "last-number"),
        ("0.25 of it", "0.25", "last-number"),
        ("no numbers here", None, "none"),
        ("", None, "none"),
    ],
)
def test_extract_answer(text: str, answer: str | None, rule: str) -> None:
    extraction = extract_answer(text)
    assert (extraction.answer, extraction.rule) == (answer, rule)
    if answer is None:
        assert extraction.span is None
    else:
        start, end = extraction.span
        assert text[start:end] == answer


def test_boxed_wins_over_later_rules() -> None:
    assert extract_answer(r"\boxed{5} The answer is 6. #### 7").rule == "boxed"
    assert extract_answer("#### 7\nThe answer is 6.").rule == "hash"


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_extract_never_raises_and_span_matches(text: str) -> None:
    extraction = extract_answer(text)
    assert extraction.rule in RULES
    if extraction.answer is not None:
        start, end = extraction.span
        assert text[start:end] == extraction.answer


TEXTY = st.text(
    alphabet=st.sampled_from(list("0123456789.,-+*/^=$%(){}[] x\\#abcdefrqst\n")) | st.characters(),
    max_size=200,
)


@given(TEXTY)
@settings(max_examples=300, deadline=None)
def test_extract_never_raises_on_answer_like_text(text: str) -> None:
    extract_answer("#### " + text)
    extract_answer(r"\boxed{" + text)
    extract_answer("The answer is " + text)


def test_extraction_is_fast_on_pathological_input() -> None:
    started = time.monotonic()
    extract_answer(r"\boxed{" * 5000 + "1" * 50_000)
    extract_answer("the answer is " * 5000)
    extract_answer("-" * 100_000 + "5")
    assert time.monotonic() - started < 5


# --- normalization and comparison of numbers -------------------------------------------


@pytest.mark.parametrize(
    ("answer", "key"),
    [
        ("$1,000.00", "1000"),
        ("1000", "1000"),
        ("1000.0", "1000"),
        ("1,000 dollars", "1000"),
        ("50%", "50"),
        (r"50\%", "50"),
        ("-7", "-7"),
        ("−7", "-7"),
        ("x = 5", "5"),
        ("18 apples", "18"),
        (r"\frac{3}{4}", "0.75"),
        ("3/4", "0.75"),
        (r"-\dfrac{1}{3}", "-1/3"),
        ("3 1/2", "3.5"),
        (".5", "0.5"),
        (r"\$32,\!348", "32348"),
        (r"\text{12 cm}", "12"),
    ],
)
def test_normalize_number(answer: str, key: str) -> None:
    assert normalize_answer(answer) == key


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("$1,000", "1000", True),
        ("1000.0", "1,000", True),
        ("0.5", "1/2", True),
        ("50%", "50", True),
        ("-3", "3", False),
        ("1000", "1001", False),
        ("0.33", "1/3", True),  # a decimal with 2+ places rounds
        ("33.333", "33.33", True),
        ("0.3", "0.25", False),  # one decimal place is no licence
        ("7", "7.4", False),
        ("12", "twelve", False),
    ],
)
def test_number_equivalence(a: str, b: str, same: bool) -> None:
    assert answers_equivalent(a, b) is same
    assert answers_equivalent(b, a) is same


@given(st.integers(min_value=-(10**12), max_value=10**12))
@settings(deadline=None)
def test_integer_spellings_agree(n: int) -> None:
    spellings = [str(n), f"{n:,}", f"{n}.0", f"{n:,}.00"]
    if n >= 0:
        spellings.append(f"${n:,}")
    assert {normalize_answer(s) for s in spellings} == {str(n)}
    assert all(answers_equivalent(s, str(n)) for s in spellings)


@given(st.integers(-1000, 1000), st.integers(1, 1000))
@settings(deadline=None)
def test_fraction_spellings_agree(numerator: int, denominator: int) -> None:
    slash = f"{numerator}/{denominator}"
    latex = rf"\frac{{{numerator}}}{{{denominator}}}"
    assert normalize_answer(slash) == normalize_answer(latex)
    assert answers_equivalent(slash, latex, MATH)


# --- LaTeX answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (r"\frac{1}{2}", "0.5"),
        (r"\dfrac12", r"\frac{1}{2}"),
        (r"10,\!080", "10080"),
        (r"90^\circ", "90"),
        (r"\text{(B)}", "B"),
        (r"\text{Evelyn}", "evelyn"),
        (r"5.4 \text{ cents}", "5.4"),
        ("y = 2x + 3", "2x+3"),
        (r"x \in [-2,7]", "[-2, 7]"),
        (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"),
        (r"(-\infty, 0]", r"(-\infty,0]"),
        (r"(0,9) \cup (9,36)", r"(0, 9)\cup(9, 36)"),
        (r"\{1\pm\sqrt{5},-2\}", r"\{-2, 1+\sqrt{5}, 1-\sqrt{5}\}"),
        ("-2,1", "1,-2"),
        (r"3 \pm 2 \sqrt{2}", r"3+2\sqrt{2}, 3-2\sqrt{2}"),
        (
            r"\begin{pmatrix} 1/5 \\ -18/5 \end{pmatrix}",
            r"\begin{pmatrix} 0.2 \\ -3.6 \end{pmatrix}",
        ),
        (r"\sqrt{8}", r"2\sqrt{2}"),
        (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt{3}}"),
        (r"\frac{3\sqrt{3}}{4}", r"\frac{3}{4}\sqrt{3}"),
        ("x^2+2x+1", "(x+1)^2"),
        ("1+2i", "2i+1"),
        (r"\cot x", r"\frac{\cos x}{\sin x}"),
        (r"288 \pi", r"288\pi"),
        (r"\sqrt[3]{8}", "2"),
        ("5x - 7y + 11z + 4 = 0", "-5x + 7y - 11z - 4 = 0"),
    ],
)
def test_math_equivalent(a: str, b: str) -> None:
    assert answers_equivalent(a, b, MATH)
    assert answers_equivalent(b, a, MATH)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (r"\frac{1}{2}", r"\frac{1}{3}"),
        ("(3,4]", "(3,4)"),
        ("(1,2)", "(2,1)"),
        (r"(0,9) \cup (9,36)", r"(0,9) \cup (9,36]"),
        ("x^2+2x+1", "(x+1)^3"),
        ("p - q", "q - p"),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 1 & 2 \end{pmatrix}"),
        (r"\text{east}", r"\text{seat}"),
        ("2516_8", "2516"),
        (r"\sqrt{2}", "1.414"),
    ],
)
def test_math_not_equivalent(a: str, b: str) -> None:
    assert not answers_equivalent(a, b, MATH)
    assert not answers_equivalent(b, a, MATH)


@pytest.mark.parametrize(
    ("plain", "latex"),
    [
        ("3*sqrt(13)", r"3\sqrt{13}"),
        ("sqrt(51)", r"\sqrt{51}"),
        ("(-sqrt(3),sqrt(3))", r"(-\sqrt{3}, \sqrt{3})"),
        ("4210_5", "4210_{5}"),
        ("2*pi", r"2\pi"),
        ("sqrt(2)/2", r"\frac{\sqrt{2}}{2}"),
    ],
)
def test_plain_text_math_equals_its_latex(plain: str, latex: str) -> None:
    assert answers_equivalent(plain, latex, MATH)
    assert answers_equivalent(latex, plain, MATH)


@pytest.mark.parametrize(
    ("plain", "latex"),
    [("3*sqrt(13)", r"3\sqrt{13}"), ("sqrt(51)", r"\sqrt{51}"), ("4210_5", "4210_{5}")],
)
def test_plain_text_math_has_the_latex_key(plain: str, latex: str) -> None:
    assert normalize_answer(plain, MATH) == normalize_answer(latex, MATH)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("2x - y + 3 = 0", "y = 2x + 3", True),
        ("y = 2x + 3", "x = (y - 3)/2", True),
        ("y = 2x + 3", "y = 2x + 4", False),
        ("x = 5", "x = 6", False),
        ("4210_5", "4210_{6}", False),
        ("sqrt(51)", r"\sqrt{50}", False),
    ],
)
def test_equations_compare_as_equations_and_wrong_stays_wrong(a: str, b: str, same: bool) -> None:
    assert answers_equivalent(a, b, MATH) is same
    assert answers_equivalent(b, a, MATH) is same


def test_a_nasty_expression_is_cut_off_by_the_time_limit() -> None:
    assert answers_equivalent(r"\sqrt{4}", "2", MATH)  # the worker is up
    started = time.monotonic()
    assert not answers_equivalent("9^{9^{9^{9}}}", "1", MATH, timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert answers_equivalent(r"\sqrt{8}", r"2\sqrt{2}", MATH)  # and comes back after a kill


def test_alarm_fallback_interrupts() -> None:
    started = time.monotonic()
    assert symbolic.run_with_alarm(time.sleep, (5,), 0.2) is None
    assert time.monotonic() - started < 2
    assert symbolic.run_with_alarm(symbolic.compare_texts, ("2*x", "x+x"), 5.0) is True


def test_sympy_input_is_whitelisted() -> None:
    assert symbolic.compare_texts("__import__('os').getcwd()", "1") is None
    assert symbolic.compare_texts("x.real", "1") is None
    assert symbolic.compare_texts("(lambda: 1)()", "1") is None


@pytest.mark.parametrize("kind", list(AnswerKind))
@given(a=st.text(max_size=60), b=st.text(max_size=60))
@settings(max_examples=60, deadline=None)
def test_compare_never_raises(kind: AnswerKind, a: str, b: str) -> None:
    assert isinstance(normalize_answer(a, kind), str)
    assert isinstance(answers_equivalent(a, b, kind, timeout_s=0.5), bool)


LATEX_PIECES = st.sampled_from(
    [r"\frac", r"\sqrt", "{", "}", "(", ")", "[", "]", "^", "_", "x", "2", "3", "-", "+", ",",
     r"\pi", r"\infty", r"\cup", r"\pm", r"\text{", r"\left(", r"\right)", "=", "&", r"\\",
     r"\begin{pmatrix}", r"\end{pmatrix}", "i", ".", " ", "$", r"\$", "%", r"\!"]
)  # fmt: skip


@given(
    st.lists(LATEX_PIECES, max_size=25).map("".join),
    st.lists(LATEX_PIECES, max_size=25).map("".join),
)
@settings(max_examples=150, deadline=None)
def test_latex_soup_never_raises(a: str, b: str) -> None:
    normalize_answer(a, MATH)
    assert isinstance(answers_equivalent(a, b, MATH, timeout_s=0.5), bool)
    assert answers_equivalent(a, a, MATH, timeout_s=0.5)


# --- votes -----------------------------------------------------------------------------


def test_group_numbers_by_value() -> None:
    groups = group_answers(["$1,000", "1000", None, "1000.0", "999", "1,000 dollars"])
    assert [(g.key, g.members) for g in groups] == [("1000", [0, 1, 3, 5]), ("999", [4])]
    assert majority(groups).key == "1000"


def test_group_math_by_equivalence() -> None:
    groups = group_answers([r"\frac{1}{2}", "0.5", r"\sqrt{4}", "1/2", "2", None], MATH)
    assert [g.members for g in groups] == [[0, 1, 3], [2, 4]]


def test_group_keeps_first_appearance_order_and_skips_none() -> None:
    assert group_answers([None, None]) == []
    groups = group_answers(["3", "4", "3", "5", "4", "4"])
    assert [g.key for g in groups] == ["3", "4", "5"]
    assert majority(groups).key == "4"
    assert majority([]) is None


def test_grouping_has_a_total_budget() -> None:
    nasty = ["9^{9^{9^{9}}}", "8^{8^{8^{8}}}", "7^{7^{7^{7}}}", "6^{6^{6^{6}}}"]
    started = time.monotonic()
    groups = group_answers(nasty, MATH, timeout_s=0.3, budget_s=1.0)
    assert len(groups) == 4
    assert time.monotonic() - started < 10


@given(st.lists(st.none() | st.text(max_size=20) | st.integers().map(str), max_size=12))
@settings(max_examples=100, deadline=None)
def test_groups_partition_the_answers(answers: list[str | None]) -> None:
    groups = group_answers(answers)
    members = sorted(i for g in groups for i in g.members)
    assert members == [i for i, a in enumerate(answers) if a is not None]
    firsts = [g.members[0] for g in groups]
    assert firsts == sorted(firsts)
