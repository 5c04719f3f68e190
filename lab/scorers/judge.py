"""The `judge` verifier: a second model's expected grade (0 wrong .. 9 right), scaled to [0, 1]."""

from __future__ import annotations

from lab import prompts
from lab.engine.base import Engine, Prompt
from lab.scorers.base import Candidate, ModelVerifier
from lab.scorers.measures import normalised
from lab.tasks.problem import Problem


class Judge(ModelVerifier):
    name = "judge"
    summary = "a second model's expected grade of the solution"
    needs = "judge"
    order = 60

    def prompt(self, problem: Problem, candidate: Candidate) -> Prompt:
        return prompts.judge_messages(problem, candidate.text, candidate.partial)

    def measure(self, engine: Engine, prompt: Prompt) -> float:
        return expected_grade(engine, prompt)

    def describe(self, value: float) -> str:
        return f"judge grade {value * 9:.1f} / 9"


def expected_grade(engine: Engine, prompt: Prompt) -> float:
    """The judge's expected grade from its next-token distribution over 0..9, scaled to [0, 1]."""
    logprobs = engine.next_token_logprobs(prompt, list(prompts.GRADES))
    probabilities = normalised(logprobs, list(prompts.GRADES))
    return sum(p * int(g) for p, g in zip(probabilities, prompts.GRADES, strict=True)) / 9
