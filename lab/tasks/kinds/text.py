"""The `text` kind: a free-text answer, compared after normalisation."""

from __future__ import annotations

from lab.tasks.kinds.base import ProblemKind
from lab.tasks.normalize import text_key
from lab.tasks.problem import AnswerKind


class TextKind(ProblemKind):
    """Answers equal after case, spacing and punctuation are normalised."""

    name = AnswerKind.TEXT.value
    summary = "free text, compared after normalisation"
    order = 40
    instruction = 'Finish with a last line "The answer is X."'

    def answer_key(self, answer: str) -> str:
        return text_key(answer)

    def equivalent(self, a: str, b: str, timeout_s: float = 2.0) -> bool:
        del timeout_s
        return text_key(a) == text_key(b)
