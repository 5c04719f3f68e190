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
    how: str = ""  # how it works, in more detail (Learn's "How it works")
    finding: str | None = None  # an entry of data/findings.json Learn adds to `how`


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
    how=(
        "A token's confidence is the negative mean log-probability of its 5 most likely "
        "alternatives (high when the model is sure); a chain's is the lowest mean over a "
        "sliding window of `window` tokens, its most hesitant stretch. The `warmup` chains set "
        "the threshold (a percentile of theirs); a later chain whose running window falls "
        "below it is stopped and does not vote; the others vote weighted by their confidence. "
        "`early_stop=false` on the same seeds measures what stopping saved."),
)
VERIFY = Category(
    "Generate, then verify",
    "Sample candidates and let a scorer or verifier choose: best-of-N keeps the "
    "highest-scored one, rejection sampling stops at the first one a verifier accepts, "
    "GenSelect lets the model read them all and name the best.",
    "N chains plus one scoring call per candidate when the verifier is a model.",
    "When the verifier is better than chance: a programmatic check (Game of 24) is "
    "exact; a small model judging itself is weak.",
    order=40,
    how=(
        "Scorers: `mean-logprob`, `lowest-window` (the worst stretch of a chain), "
        "`self-certainty`, `heuristic` (answer format, a number, brevity), `programmatic` (the "
        "task's own checker: Game-of-24 validity, "
        "recomputing the arithmetic a chain states; never the gold answer), `self-verify` (the "
        "model's P(yes) that a solution is right) and `judge` (a second model, from the "
        "command line). A verifier can pick a right answer that only a minority of chains "
        "reached, which a vote cannot."),
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
    "solutions and keep the promising ones (beam search), search several independent "
    "subtrees and let their leaves vote (DVTS), or explore a tree with Monte Carlo tree "
    "search.",
    "Many short calls plus a score for every step; the cached prefix of each path is "
    "reused.",
    "When intermediate steps can be judged, as in puzzles like Game of 24.",
    order=60,
    how=(
        "A *step* ends at a blank line. **Beam search** (`beam-search`) keeps the `width` best "
        "partial solutions; from each it samples `branch` next steps, scores every extended "
        "path, and keeps the best `width` again, for at most `depth` steps. **Tree search** "
        "(`tree-search`) grows one tree instead: MCTS picks the node to expand by UCT (its "
        "mean value plus an exploration bonus `exploration` × √(ln parent visits / visits)), "
        "samples `branch` children, values them with a scorer on the partial path or with a "
        "rollout to the end, and backs the value up to the root; best-first always expands the "
        "highest-valued open node. The Playground draws the tree: click a node for its step "
        "and scores. A search is only as good as its scorer: the programmatic Game-of-24 check "
        "judges finished expressions exactly, a model's own log-probability judges style more "
        "than truth."),
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
    how=(
        "The context (an order log far longer than the model's window, the `longctx` set) "
        "never enters the prompt. The model sees its length and a preview, and writes Python "
        "in a REPL that holds it as a variable: it slices, filters and counts, calls "
        "`llm(prompt)` on pieces it wants read, and ends with `final(value)`. The Playground "
        "shows each turn: the code, its output, and the nested calls."),
    finding="recursive",
)
