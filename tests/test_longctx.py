"""The longctx set: deterministic, compact on disk, documents far longer than a context
window, gold answers that an independent reading of the document confirms, exact checks."""

from __future__ import annotations

import re

import pytest

from lab import config
from lab.strategies import run_strategy
from lab.tasks import longctx
from lab.tasks.datasets import builtin_problems, load_set, to_jsonl
from lab.tasks.grading import grade
from lab.tasks.problem import Problem
from lab.trace import TraceStatus

LINE = re.compile(r"^order (\d{5}): customer=([\w ]+); city=(\w+); product=(\w+); qty=(\d+); "
                  r"price=(\d+); status=(\w+)$")


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return load_set("longctx")


def read_log(text: str) -> list[dict]:
    """The order log parsed from its text alone, not from the generator's objects."""
    rows = []
    for line in text.splitlines():
        m = LINE.match(line)
        assert m, f"unexpected line {line!r}"
        rows.append({"number": m[1], "customer": m[2], "city": m[3], "product": m[4],
                     "qty": int(m[5]), "price": int(m[6]), "status": m[7]})
    return rows


def answer_from_text(question: str, rows: list[dict]) -> int:
    if m := re.search(r"city=(\w+) and status=(\w+)\?", question):
        return sum(1 for r in rows if r["city"] == m[1] and r["status"] == m[2])
    if m := re.search(r"city=(\w+) and product=(\w+)\?", question):
        return max(r["price"] for r in rows if r["city"] == m[1] and r["product"] == m[2])
    if m := re.search(r"product=(\w+)\?", question):
        return sum(r["qty"] for r in rows if r["product"] == m[1])
    if m := re.search(r"orders (\d+), (\d+) and (\d+)\?", question):
        return sum(r["price"] for r in rows if r["number"] in m.groups())
    if m := re.search(r"customer=([\w ]+) place\?", question):
        return sum(1 for r in rows if r["customer"] == m[1])
    raise AssertionError(question)


def test_gold_answers_agree_with_reading_the_documents(problems: list[Problem]):
    assert len(problems) == 20
    assert {p.metadata["qtype"] for p in problems} == set(longctx.QUESTION_TYPES)
    for problem in problems:
        rows = read_log(longctx.document(problem))
        assert len(rows) == problem.metadata["context"]["records"]
        assert answer_from_text(problem.question, rows) == int(problem.gold), problem.id


def test_documents_are_long_and_problems_are_compact(problems: list[Problem]):
    for problem in problems:
        document = longctx.document(problem)
        assert len(document) == problem.metadata["context_chars"] > 150_000
        assert len(problem.question) < 250 and len(problem.to_dict().__repr__()) < 1000


def test_generation_is_deterministic_and_the_stored_set_is_current():
    assert longctx.generate(3, seed=5) == longctx.generate(3, seed=5)
    assert longctx.generate(3, seed=5) != longctx.generate(3, seed=6)
    stored = (config.data_dir() / "longctx.jsonl").read_text(encoding="utf-8")
    assert stored == to_jsonl(builtin_problems("longctx")), "run `lab problems build`"
    assert builtin_problems("longctx") == load_set("longctx")


def test_attached_context_and_with_document(problems: list[Problem]):
    problem = problems[0]
    document = longctx.document(problem)
    assert longctx.attached_context(problem) == document
    assert longctx.attached_context(Problem(id="x", question="1+1?")) is None
    inline = longctx.with_document(problem)
    assert inline.question.startswith(document) and inline.question.endswith(problem.question)
    assert inline.gold == problem.gold and inline.id == problem.id
    with pytest.raises(ValueError):
        longctx.document(Problem(id="x", question="1+1?"))


@pytest.mark.parametrize(("answer", "ok"), [
    ("{gold}", True), ("The answer is {gold}.", True), ("{gold}.0", True),
    ("{plus}", False), ("{gold}.5", False), ("", False), (None, False), ("many", False),
])
def test_checks_are_exact(problems: list[Problem], answer: str | None, ok: bool):
    problem = problems[1]
    gold = int(problem.gold)
    text = None if answer is None else answer.format(gold=gold, plus=gold + 1)
    assert longctx.check(problem, text) is ok
    if text:
        assert grade(problem, text) is ok  # the lab's general grader agrees


def test_thousands_separators():
    assert longctx.parse_integer("1,234") == 1234 and longctx.parse_integer("-7") == -7


def test_direct_cannot_read_it(smollm_engine, problems: list[Problem]):
    """The same problem given whole to `direct` does not fit the model's context."""
    problem = longctx.with_document(problems[0])
    tokens = smollm_engine.count_tokens(problem.question)
    assert tokens > 10 * smollm_engine.n_ctx
    trace = run_strategy("direct", problem, smollm_engine)
    assert trace.status == TraceStatus.FAILED and "does not fit the context" in trace.error
    assert trace.compute.generated_tokens == 0


# -- the easy tier ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def easy_problems() -> list[Problem]:
    return load_set("longctx-easy")


def easy_answer_from_text(question: str, rows: list[dict]) -> int:
    if m := re.fullmatch(r"How many orders have (city|product|status)=(\w+)\?", question):
        return sum(1 for r in rows if r[m[1]] == m[2])
    if m := re.fullmatch(r"What is the (price|qty) of order (\d{5})\?", question):
        [value] = [r[m[1]] for r in rows if r["number"] == m[2]]  # exactly one such order
        return value
    raise AssertionError(question)


def test_easy_gold_answers_agree_with_reading_the_documents(easy_problems: list[Problem]):
    assert len(easy_problems) == 20
    assert {p.metadata["qtype"] for p in easy_problems} == set(longctx.EASY_QUESTION_TYPES)
    for index, problem in enumerate(easy_problems, 1):
        assert problem.id == f"longctx-easy-{index:03d}" and problem.source == "longctx-easy"
        assert longctx.tier(problem) == "easy" and problem.metadata["tier"] == "easy"
        rows = read_log(longctx.document(problem))
        assert len(rows) == problem.metadata["context"]["records"]
        query = problem.metadata["query"]
        assert problem.question.endswith(query)
        assert easy_answer_from_text(query, rows) == int(problem.gold), problem.id


def test_the_easy_tier_is_a_few_contexts_long_and_easier_than_the_hard_one(
        easy_problems: list[Problem], problems: list[Problem]):
    for problem in easy_problems:
        chars = len(longctx.document(problem))
        assert chars == problem.metadata["context_chars"]
        assert 55_000 < chars < 100_000  # about 2.5 characters a token: 3-4 times 8,192 tokens
    assert max(p.difficulty for p in easy_problems) < min(p.difficulty for p in problems)
    assert all(longctx.tier(p) == "hard" and "tier" not in p.metadata for p in problems)


def test_easy_generation_is_deterministic_and_the_stored_set_is_current():
    assert longctx.generate_easy(5, seed=5) == longctx.generate_easy(5, seed=5)
    assert longctx.generate_easy(5, seed=5) != longctx.generate_easy(5, seed=6)
    assert longctx.generate_easy(5, seed=5) == load_set("longctx-easy", limit=5)
    stored = (config.data_dir() / "longctx-easy.jsonl").read_text(encoding="utf-8")
    assert stored == to_jsonl(builtin_problems("longctx-easy")), "run `lab problems build`"
