"""The families of inference-time scaling a strategy belongs to: what Learn explains.

A strategy names its category (`Strategy.category`); Learn draws one section per category of
the registered strategies, in strategy order. A strategy of a new family defines its own
`Category` in its module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    title: str
    what: str  # what it does
    cost: str  # what it costs
    helps: str  # when it helps
    order: int = 1000  # place on the Learn page (lowest first; ties: strategy order)


THINK = Category(
    "Think before answering",
    "Ask for the reasoning before the answer (chain of thought) instead of the answer "
    "alone. The model spends tokens on intermediate results it can then build on.",
    "One sequence, but several times longer than a bare answer.",
    "Multi-step problems, on models big enough to follow their own steps. A tiny model "
    "may just ramble.",
    order=10,
)
VOTE = Category(
    "Sample many, vote",
    "Draw N chains at a temperature above zero and take the answer most of them reach. "
    "Wrong chains tend to disagree with each other; right ones agree.",
    "N times the generated tokens; the prompt is decoded once and shared, and the N "
    "chains are decoded side by side in one batch.",
    "When the model is right more often than it is wrong in any one particular way. "
    "Accuracy climbs with N, then flattens.",
    order=20,
)
CONFIDENCE = Category(
    "Vote with confidence",
    "Weigh each chain's vote by how confident the model was while writing it, and stop "
    "chains whose confidence drops below a threshold learned from a few warm-up chains "
    "(DeepConf).",
    "Fewer tokens than plain voting at the same N: unsure chains stop early.",
    "When low confidence marks wrong chains; a little model's confidence is a noisy "
    "signal.",
    order=30,
)
VERIFY = Category(
    "Generate, then verify",
    "Sample candidates and let a scorer or verifier choose: best-of-N keeps the "
    "highest-scored one, rejection sampling stops at the first one a verifier accepts.",
    "N chains plus one scoring call per candidate when the verifier is a model.",
    "When the verifier is better than chance: a programmatic check (Game of 24) is "
    "exact; a small model judging itself is weak.",
    order=40,
)
REVISE = Category(
    "Revise",
    "Write a draft, ask the model to critique it, then revise; keep a revision only if "
    "it scores at least as high as the draft.",
    "Two extra calls per round, each reading the whole previous solution.",
    "When the model can spot its own mistakes, which small models rarely can.",
    order=50,
)
SEARCH = Category(
    "Search over steps",
    "Grow the solution one step at a time, sample several next steps, score the partial "
    "solutions and keep the promising ones (beam search), or explore a tree with Monte "
    "Carlo tree search.",
    "Many short calls plus a score for every step; the cached prefix of each path is "
    "reused.",
    "When intermediate steps can be judged, as in puzzles like Game of 24.",
    order=60,
)
RECURSE = Category(
    "Recurse over a long context",
    "The model writes Python in a sandboxed REPL that holds a context far longer than its "
    "window, reads it in slices, and calls itself (`llm()`) on the pieces (recursive "
    "language models).",
    "Every REPL turn is a model call, plus one call per `llm()`; the code runs in a "
    "separate, locked-down process.",
    "Long inputs where the answer sits in a few places; a small model often fails to "
    "drive the REPL.",
    order=70,
)
