"""The `self-verify` verifier: the solving model's P(Yes) to "is this solution correct?"."""

from __future__ import annotations

from lab import prompts
from lab.engine.base import Engine, Prompt
from lab.scorers.base import Candidate, ModelVerifier
from lab.scorers.measures import normalised
from lab.tasks.problem import Problem


class SelfVerify(ModelVerifier):
    name = "self-verify"
    summary = "the model's own P(Yes) to 'is this solution correct?'"
    needs = "model"
    order = 50

    def prompt(self, problem: Problem, candidate: Candidate) -> Prompt:
        return prompts.verification_messages(problem, candidate.text, candidate.partial)

    def measure(self, engine: Engine, prompt: Prompt) -> float:
        return yes_probability(engine, prompt)

    def describe(self, value: float) -> str:
        return f"P(yes) = {value:.2f}"


def yes_probability(engine: Engine, prompt: Prompt) -> float:
    """P(Yes) against P(No) for the next token."""
    logprobs = engine.next_token_logprobs(prompt, [prompts.YES, prompts.NO])
    return normalised(logprobs, [prompts.YES, prompts.NO])[0]
