"""Final answers: pull them out of a model's text, normalize, compare, and group for votes.

Extraction lives in lab.tasks.extraction; how two answers compare is the problem kind's rule
(lab.tasks.kinds), asked here by the kind's name. Nothing here raises on any input string."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from lab.tasks.extraction import RULES, Extraction, extract_answer
from lab.tasks.kinds import ProblemKind, get_kind
from lab.tasks.normalize import compact_text
from lab.tasks.problem import AnswerKind

# --- normalizing and comparing ---------------------------------------------------------


def normalize_answer(answer: str, kind: str = AnswerKind.NUMBER) -> str:
    """The canonical key of an answer: equal keys mean the same answer ('$1,000.00',
    '1000' and '1000.0' all give '1000'). Different keys may still be equivalent."""
    return get_kind(kind).answer_key(answer)


def answers_equivalent(
    a: str, b: str, kind: str = AnswerKind.NUMBER, timeout_s: float = 2.0
) -> bool:
    """Do a and b state the same answer, by the kind's rule? Numbers exactly (or up to the
    rounding of a decimal), LaTeX by normalization and, within timeout_s, by sympy."""
    return get_kind(kind).equivalent(a, b, timeout_s)


# --- votes -----------------------------------------------------------------------------


@dataclass
class AnswerGroup:
    key: str  # canonical representative
    members: list[int] = field(default_factory=list)  # indices into the input
    answer: str = ""  # the first member's answer as written

    @property
    def size(self) -> int:
        return len(self.members)


def group_answers(
    answers: Sequence[str | None],
    kind: str = AnswerKind.NUMBER,
    timeout_s: float = 1.0,
    budget_s: float = 10.0,
) -> list[AnswerGroup]:
    """Answers grouped by equivalence, groups in order of first appearance.

    Each answer joins the first group whose first answer it is equivalent to (equal keys
    are always one group). None answers are left out of every group. Comparisons share a
    budget of budget_s seconds; once it is spent, only equal keys group."""
    rules = get_kind(kind)
    deadline = time.monotonic() + budget_s
    groups: list[AnswerGroup] = []
    by_key: dict[str, AnswerGroup] = {}
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        key = rules.answer_key(answer)
        group = by_key.get(key) or _equivalent_group(answer, groups, rules, timeout_s, deadline)
        if group is None:
            group = AnswerGroup(key=key, answer=answer)
            groups.append(group)
        by_key[key] = group
        group.members.append(index)
    return groups


def _equivalent_group(
    answer: str, groups: list[AnswerGroup], rules: ProblemKind, timeout_s: float, deadline: float
) -> AnswerGroup | None:
    for group in groups:
        remaining = min(timeout_s, deadline - time.monotonic())
        if remaining > 0 and rules.equivalent(answer, group.answer, remaining):
            return group
    return None


def majority(groups: Sequence[AnswerGroup]) -> AnswerGroup | None:
    """The largest group; the earliest one wins a tie."""
    return max(groups, key=lambda g: g.size, default=None)


__all__ = [
    "RULES",
    "AnswerGroup",
    "Extraction",
    "answers_equivalent",
    "compact_text",
    "extract_answer",
    "group_answers",
    "majority",
    "normalize_answer",
]
