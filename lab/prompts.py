"""Prompt builders (chat messages) for every strategy and verifier.

Every solving prompt asks for a last line "The answer is X." so answer extraction works the
same way for all strategies; the problem's kind (lab.tasks.kinds) words that line and the
task (Game of 24 asks for an expression instead of a number).
"""

from __future__ import annotations

import re
from typing import Literal

from lab.engine.base import ChatMessage
from lab.tasks.kinds import kind_of
from lab.tasks.problem import Problem

PromptStyle = Literal["direct", "cot", "steps"]
STEP_SEPARATOR = "\n\n"
SYSTEM = "You are a careful problem solver."
# How a model family is asked to solve (the registry says which, lab.models.prompt_format_for):
# "lab": the lab's system prompt, the task and "The answer is X." as the last line;
# "boxed": Qwen's math prompt, the task alone, the answer in \boxed{} (step-by-step styles).
PROMPT_FORMATS = ("lab", "boxed")
BOXED_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
_STEPS = ("Solve it in short steps. Write each step as one short paragraph and put a blank "
          "line between steps.")
YES, NO = "Yes", "No"
GRADES = tuple(str(d) for d in range(10))  # a judge grades 0 (wrong) .. 9 (correct)

# A critique that opens like this found nothing to fix, unless it names a problem anyway.
_CLEAN_CRITIQUE = re.compile(
    r"\bno (?:mistakes?|errors?|issues?|problems?)\b|\bnothing to (?:fix|correct)\b"
    r"|\b(?:the )?(?:solution|answer|it) is (?:fully |completely )?correct\b|^\s*correct\b",
    re.IGNORECASE,
)
_NAMES_A_PROBLEM = re.compile(
    r"\b(?:wrong|incorrect|not correct|should be|instead of|(?:mistake|error) (?:is|in))\b",
    re.IGNORECASE,
)


def answer_instruction(problem: Problem) -> str:
    """How the prompt asks for the final answer: the problem kind's words."""
    return kind_of(problem).answer_instruction(problem)


def task_text(problem: Problem) -> str:
    """The task as the problem kind states it (Game of 24 spells out numbers and target)."""
    return kind_of(problem).task_text(problem)


def solve_messages(problem: Problem, style: PromptStyle = "cot",
                   fmt: str = "lab") -> list[ChatMessage]:
    """Ask for a solution: the answer only, step by step, or in blank-line separated steps,
    in the model family's prompt format (a direct answer is always asked the lab's way)."""
    if fmt not in PROMPT_FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}; known: {', '.join(PROMPT_FORMATS)}")
    if fmt == "boxed" and style != "direct":
        steps = f"\n\n{_STEPS}" if style == "steps" else ""
        return [{"role": "system", "content": BOXED_SYSTEM},
                {"role": "user", "content": f"{task_text(problem)}{steps}"}]
    how = {
        "direct": "Give only the final answer, with no explanation.",
        "cot": "Think step by step.",
        "steps": _STEPS,
    }[style]
    return _chat(f"{task_text(problem)}\n\n{how} {answer_instruction(problem)}")


def critique_messages(problem: Problem, solution: str) -> list[ChatMessage]:
    return _chat(
        f"Problem:\n{task_text(problem)}\n\nProposed solution:\n{solution.strip()}\n\n"
        "Check the solution step by step. If it is correct, reply only: No mistakes. "
        "Otherwise, name the first mistake and say how to fix it."
    )


def revision_messages(problem: Problem, solution: str, critique: str) -> list[ChatMessage]:
    return _chat(
        f"Problem:\n{task_text(problem)}\n\nPrevious solution:\n{solution.strip()}\n\n"
        f"Feedback:\n{critique.strip()}\n\nWrite a corrected solution. Think step by step. "
        f"{answer_instruction(problem)}"
    )


def verification_messages(
    problem: Problem, solution: str, partial: bool = False
) -> list[ChatMessage]:
    """A yes/no question whose next-token probability of "Yes" scores the solution."""
    label = "Partial solution (unfinished)" if partial else "Proposed solution"
    question = ("Is this partial solution correct so far?" if partial
                else "Is this solution correct?")
    return _chat(
        f"Problem:\n{task_text(problem)}\n\n{label}:\n{solution.strip()}\n\n"
        f"{question} Answer {YES} or {NO}."
    )


def judge_messages(problem: Problem, solution: str, partial: bool = False) -> list[ChatMessage]:
    """A grading prompt for a judge model: one digit, 0 (certainly wrong) to 9 (certainly right)."""
    what = "partial solution (unfinished)" if partial else "solution"
    return _chat(
        f"Problem:\n{task_text(problem)}\n\nThe {what} to grade:\n{solution.strip()}\n\n"
        f"Grade how likely this {what} is correct, from 0 (certainly wrong) to 9 "
        "(certainly correct). Reply with one digit."
    )


def critique_is_clean(critique: str) -> bool:
    """True when the critique opens by saying there is nothing to fix and names no problem."""
    lines = critique.strip().splitlines()
    first = lines[0] if lines else ""
    return bool(_CLEAN_CRITIQUE.search(first)) and not _NAMES_A_PROBLEM.search(critique)


def _chat(user: str) -> list[ChatMessage]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
