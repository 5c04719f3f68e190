"""Which answers of a run were right: graded once when the run ends (kept in trace.meta, so a
drawing never grades), or when drawn for a stored run from before the lab kept every grade."""

from __future__ import annotations

from lab.tasks.grading import grade_answer
from lab.trace import SOLUTION_KINDS, VOTE_CORRECT, Trace


def grade_votes(trace: Trace) -> dict[str, bool]:
    """The correctness of each voted answer and of each answer a chain gave (empty without a
    gold answer): the divergence view and the report mark losing candidates too."""
    if trace.problem.gold is None:
        return {}
    answers = [*trace.votes, *(n.answer for n in trace.nodes
                               if n.kind in SOLUTION_KINDS and n.answer is not None)]
    return {answer: bool(grade_answer(trace.problem, answer)) for answer in dict.fromkeys(answers)}


def answer_grades(trace: Trace, live: bool = False) -> dict[str, bool]:
    """Each voted (and candidate) answer's correctness; never graded while live."""
    graded = trace.meta.get(VOTE_CORRECT)
    if graded is None and not live:
        graded = grade_votes(trace)
    return dict(graded or {})


def extra_grades(trace: Trace) -> dict[str, bool | None]:
    """Grades of the candidates' answers the run did not grade (an old run's losers)."""
    if trace.problem.gold is None:
        return {}
    answers = {n.answer for n in trace.solutions() if n.answer is not None}
    return {a: grade_answer(trace.problem, a) for a in answers if trace.vote_correct(a) is None}
