"""Arithmetic word problems in the style of grade-school math, 1 to 5 steps.

A problem follows one quantity (Mia's stickers) through `steps` operations; the number of
steps and the size of the numbers (`max_value`) set the difficulty. Each problem carries
a worked solution ending in '#### answer', so it can be checked like GSM8K."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from lab.tasks.problem import AnswerKind, Problem

PEOPLE = [
    ("Mia", "she", "her", "her"), ("Liam", "he", "him", "his"), ("Ava", "she", "her", "her"),
    ("Noah", "he", "him", "his"), ("Zoe", "she", "her", "her"), ("Omar", "he", "him", "his"),
    ("Lena", "she", "her", "her"), ("Ravi", "he", "him", "his"), ("Sofia", "she", "her", "her"),
    ("Kenji", "he", "him", "his"), ("Amara", "she", "her", "her"), ("Mateo", "he", "him", "his"),
]  # fmt: skip
ITEMS = [
    "apples", "stickers", "marbles", "coins", "books", "cookies", "pencils", "cards",
    "shells", "stamps", "beads", "toy cars", "seashells", "crayons", "buttons",
]  # fmt: skip
TEMPLATES = {
    "+": [
        "{Subj} buys {k} more {items}.",
        "A friend gives {obj} {k} {items}.",
        "{Subj} gets {k} {items} for {poss} birthday.",
        "The next day {subj} finds {k} more {items}.",
    ],
    "-": [
        "{Subj} gives {k} {items} to a friend.",
        "{Subj} loses {k} of {poss} {items}.",
        "{Subj} sells {k} {items} at the school fair.",
        "{Subj} uses {k} {items} for an art project.",
    ],
    "*": [
        "By the end of the month {subj} has {k} times as many {items} as before.",
        "{Subj} trades for more and ends up with {k} times as many {items}.",
    ],
    "/": [
        "{Subj} splits {poss} {items} into {k} equal piles and keeps only one pile.",
        "{Subj} shares {poss} {items} equally among {k} boxes and gives away all boxes but one.",
    ],
}
SIZE_FACTOR = 10  # running totals stay below max_value * SIZE_FACTOR


@dataclass
class _Story:
    name: str
    pronouns: dict[str, str]
    items: str
    sentences: list[str]
    lines: list[str]  # the worked solution
    value: int


def generate(
    count: int,
    seed: int,
    steps: int | Sequence[int] = (1, 2, 3, 4, 5),
    max_value: int | Sequence[int] = (20, 100, 1000),
) -> list[Problem]:
    """`count` problems cycling through every (steps, max_value) pair; the same seed always
    gives the same problems."""
    steps_options = [steps] if isinstance(steps, int) else list(steps)
    size_options = [max_value] if isinstance(max_value, int) else list(max_value)
    settings = list(itertools.product(steps_options, size_options))
    problems = []
    for index in range(count):
        step_count, size = settings[index % len(settings)]
        rng = random.Random(f"arith:{seed}:{index}")
        problems.append(make_problem(index + 1, step_count, size, rng))
    return problems


def make_problem(index: int, steps: int, max_value: int, rng: random.Random) -> Problem:
    if steps < 1 or max_value < 10:
        raise ValueError("arith problems need at least 1 step and max_value of at least 10")
    story = _start(rng, steps, max_value)
    while len(story.lines) < steps:
        _apply_step(story, rng, max_value)
    question = " ".join(story.sentences) + f" How many {story.items} does {story.name} have now?"
    solution = "\n".join([*story.lines, f"#### {story.value}"])
    return Problem(
        id=f"arith-{index:04d}",
        question=question,
        gold=str(story.value),
        kind=AnswerKind.NUMBER,
        source="arith",
        difficulty=difficulty(steps, max_value),
        metadata={"steps": steps, "max_value": max_value, "solution": solution},
    )


def difficulty(steps: int, max_value: int) -> float:
    """The step count, plus half a point per extra digit beyond two in the numbers."""
    return float(steps + 0.5 * max(0, len(str(max_value)) - 2))


def _start(rng: random.Random, steps: int, max_value: int) -> _Story:
    name, subj, obj, poss = rng.choice(PEOPLE)
    pronouns = {"subj": subj, "Subj": subj.capitalize(), "obj": obj, "poss": poss}
    items = rng.choice(ITEMS)
    if rng.random() < 0.3:  # a product to start with is the first step
        bags, each = rng.randint(2, 9), rng.randint(2, max(2, max_value // 5))
        sentence = f"{name} buys {bags} bags of {items} with {each} {items} in each bag."
        return _Story(
            name, pronouns, items, [sentence], [f"{bags} * {each} = {bags * each}"], bags * each
        )
    value = rng.randint(max(2, max_value // 4), max_value)
    return _Story(name, pronouns, items, [f"{name} has {value} {items}."], [], value)


def _apply_step(story: _Story, rng: random.Random, max_value: int) -> None:
    options = _operations(story.value, max_value)
    op = rng.choice(sorted(options))
    k = rng.choice(options[op])
    new_value = {"+": story.value + k, "-": story.value - k, "*": story.value * k}.get(
        op, story.value // k
    )
    template = rng.choice(TEMPLATES[op])
    story.sentences.append(template.format(k=k, items=story.items, **story.pronouns))
    story.lines.append(f"{story.value} {op} {k} = {new_value}")
    story.value = new_value


def _operations(value: int, max_value: int) -> dict[str, list[int]]:
    """For each operation, the operands that keep the total a whole number between 1 and
    max_value * SIZE_FACTOR."""
    limit = max_value * SIZE_FACTOR
    options = {"+": list(range(1, min(max_value, limit - value) + 1))}
    if value >= 2:
        options["-"] = list(range(1, min(max_value, value - 1) + 1))
    multipliers = [k for k in (2, 3, 4, 5) if value * k <= limit]
    if multipliers:
        options["*"] = multipliers
    divisors = [k for k in (2, 3, 4, 5) if value % k == 0]
    if divisors:
        options["/"] = divisors
    return {op: operands for op, operands in options.items() if operands}
