"""Where the pick loses: other picks over the same stored chains (not a test: prints tables).

First, every configuration stored in the experiments: its accuracy, its generated tokens
against greedy `cot`'s, the paired difference from `cot`, and how often some chain (branch,
leaf) of a run held the right answer that its pick missed. Then the compute knob of
`cot-decoding` (k), `adaptive-branch` (max_forks), `dvts` (subtrees) and `hybrid` (n_prose
with n_programs as many), derived from the runs
of the largest setting (what a smaller run would have decoded is part of it; each function
below says how). Then the other picks over one vote's chains:

A vote of 8 finds the right answer on far fewer problems than hold it among their chains
(pass@8). This reads an experiment's stored runs, no model: the step-by-step chains of its
self-consistency run and the programs of its `program` run on each problem, and asks what
other picks would have answered from exactly those chains: a vote of fewer of them (maj@k,
self-consistency at the tokens the other strategies spent), a vote weighted by a scorer
(self-consistency `weight=`), the best chain by a scorer (best-of-n), the programs' vote,
and prose and programs in one vote (what `hybrid` does), each against greedy `cot` on the
same problems (paired difference, 95% interval).

Every pick is the expectation over the subsets the row names (ties broken uniformly), as
lab.evaluation.estimators counts maj@k: a row derived from stored chains, not a new run.
Chains cut at their token cap and programs that failed do not vote, as in their runs.

    python bench/picks.py                                # the gallery's ladder-gsm8k50
    LAB_HOME=DIR python bench/picks.py -e ladder-gsm8k50 -e NAME --json picks.json
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations, product
from typing import Any

from lab.evaluation.estimators import Chain, best_correct, maj_at_k, majority_correct
from lab.evaluation.paired import paired_difference
from lab.evaluation.report import text_table
from lab.evaluation.resample import estimator_chains, votes_in_run
from lab.scorers import get_scorer
from lab.scorers.base import Candidate
from lab.scorers.scoring import Scoring
from lab.store.ledger import Ledger
from lab.store.queries import RunSummary
from lab.strategies.adaptive_branch import FORK, GREEDY
from lab.strategies.cot_decoding import FIRST_RANK, MARGIN
from lab.strategies.dvts import LEAF as DVTS_LEAF
from lab.strategies.dvts import SUBTREE, leaf_votes
from lab.strategies.hybrid import CODE_SAMPLE, PROSE
from lab.strategies.hybrid import SOURCE as HYBRID_SOURCE
from lab.strategies.registry import find_strategy
from lab.strategies.self_consistency import VOTE_WEIGHT
from lab.tasks.grading import grade_answer
from lab.trace import Node, NodeKind, Trace

LoadTrace = Callable[[int], Trace]  # a run id -> its stored trace

DEFAULT_EXPERIMENT = "ladder-gsm8k50"  # the gallery's GSM8K ladder
CANDIDATE_KINDS = (NodeKind.CHAIN, NodeKind.REVISION, NodeKind.STEP)
SCORERS = ("mean-logprob", "lowest-window", "self-certainty", "heuristic")
COLUMNS = ("pick", "chains", "problems", "accuracy", "tokens / problem", "x cot tokens",
           "minus cot [95% CI]", "only it", "only cot")
CONFIG_COLUMNS = ("pick", "problems", "accuracy", "tokens / problem", "x cot tokens",
                  "minus cot [95% CI]", "some chain right", "pick missed it",
                  "plain vote of them")
TABLES = {"configurations": CONFIG_COLUMNS, "knobs": COLUMNS, "picks": COLUMNS}
TITLES = {
    "configurations": "Every configuration stored (some chain right: a chain, branch or leaf of "
                      "the run held the right answer; pick missed it: problems where it did and "
                      "the run answered wrong; plain vote of them: one vote each over its "
                      "final chains, ties a coin toss)",
    "knobs": "Each branching and search strategy's compute knob, derived from the runs of its "
             "largest setting (their chains, branches or subtrees; the tokens they spent)",
    "picks": "Other picks over the same chains: self-consistency n={n} and program n={n}",
}


@dataclass
class Sample:
    """One stored chain or program, reduced to its answer and what the scorers read."""

    node: Node
    votes: bool  # it voted in its run (not cut, not a failed program)


@dataclass
class Problem:
    id: str
    prose: list[Sample]
    programs: list[Sample]
    prose_tokens: int
    program_tokens: int
    trace: Trace  # the prose run: its problem, for grading and the scorers


def main() -> None:
    args = _arguments()
    experiments = args.experiment or [DEFAULT_EXPERIMENT]
    with Ledger(recover=False) as ledger:
        report = build_report(ledger, experiments, args.n)
    print(f"{', '.join(experiments)}: greedy cot {report['cot']:.2f} on {report['problems']} "
          f"problems at {report['cot_tokens']} generated tokens a problem")
    for table, columns in TABLES.items():
        if report[table]:
            print(f"\n{TITLES[table].format(n=args.n)}")
            print("\n".join(text_table(columns, [[str(r.get(c, "")) for c in columns]
                                                 for r in report[table]])))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


def build_report(ledger: Ledger, experiments: Sequence[str], n: int) -> dict[str, Any]:
    """Every table, as rows of JSON-ready dicts, with greedy cot's accuracy and tokens."""
    runs = _runs(ledger, experiments)
    load = functools.cache(ledger.load_trace)  # the tables read many runs more than once
    cot = _by_problem(runs, _is_greedy_cot)
    if not cot:
        raise SystemExit(f"{', '.join(experiments)}: no greedy cot run to compare with")
    cot_tokens = sum(r.generated_tokens for r in cot.values()) / len(cot)
    cot_right = {p: float(bool(r.correct)) for p, r in cot.items()}
    problems = _load(load, runs, cot, n)
    return {
        "experiments": list(experiments), "problems": len(cot), "cot": _mean(cot_right),
        "cot_tokens": round(cot_tokens),
        "configurations": _configurations(load, runs, cot_right, cot_tokens),
        "knobs": _knob_ladders(load, runs, cot_right, cot_tokens),
        "picks": [_row(name, chains, per_problem, tokens, cot_right, cot_tokens)
                  for name, chains, per_problem, tokens in _rows(problems, n)] if problems else [],
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-e", "--experiment", action="append",
                        help=f"an experiment of the ledger (repeatable; default "
                             f"{DEFAULT_EXPERIMENT}); a configuration in several counts once")
    parser.add_argument("--n", type=int, default=8, help="chains of the stored votes")
    parser.add_argument("--json", help="also write the tables here")
    return parser.parse_args()


def _mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values) if values else 0.0


def _row(name: str, chains: str, per_problem: dict[str, float], tokens: float,
         cot_right: dict[str, float], cot_tokens: float) -> dict[str, Any]:
    d = paired_difference(per_problem, cot_right)
    interval = (f"{100 * d.difference:+.0f} [{100 * d.low:+.0f}, {100 * d.high:+.0f}]"
                if d.low is not None and d.high is not None else "")
    return {"pick": name, "chains": chains, "problems": len(per_problem),
            "accuracy": round(_mean(per_problem), 3), "tokens / problem": round(tokens),
            "x cot tokens": round(tokens / cot_tokens, 1), "minus cot [95% CI]": interval,
            "only it": d.only_a, "only cot": d.only_b}


# -- every stored configuration ----------------------------------------------------------------
def _configurations(load: LoadTrace, runs: Sequence[RunSummary], cot_right: dict[str, float],
                    cot_tokens: float) -> list[dict[str, Any]]:
    by_config: dict[str, dict[str, RunSummary]] = {}
    for run in runs:
        by_config.setdefault(_config(run), {}).setdefault(run.problem_id, run)
    rows = []
    for config, found in by_config.items():
        correct = {p: float(bool(r.correct)) for p, r in found.items()}
        tokens = sum(r.generated_tokens for r in found.values()) / len(found)
        row = _row(config, "", correct, tokens, cot_right, cot_tokens)
        traces = {p: load(r.id) for p, r in found.items()}
        held = {p: _held(trace) for p, trace in traces.items()}
        row["some chain right"] = round(_mean(held), 3)
        row["pick missed it"] = sum(bool(held[p]) and not correct[p] for p in found)
        row["plain vote of them"] = round(_mean({p: _plain_vote(t) for p, t in traces.items()}), 3)
        rows.append(row)
    return rows


def _candidates(trace: Trace) -> list[Node]:
    """What the run could pick from: its chains, branches and revisions that voted (or could
    be ranked) and its answered steps."""
    return [n for n in trace.nodes if n.kind in CANDIDATE_KINDS
            and (_voted(trace, n) if n.kind == NodeKind.CHAIN else n.answer is not None)]


def _voted(trace: Trace, chain: Node) -> bool:
    """The chain has an answer and voted in its run: not cut (unless the run let cut chains
    vote), not stopped early, not a program that failed."""
    return (chain.answer is not None and votes_in_run(trace, chain)
            and not chain.meta.get("no_vote"))


def _held(trace: Trace) -> float:
    """1.0 when some candidate of the run holds the right answer."""
    return float(any(grade_answer(trace.problem, n.answer) for n in _candidates(trace)))


def _plain_vote(trace: Trace) -> float:
    """How often one vote each over the run's final candidates (its chains, branches,
    revisions, a search's leaves; not a search's pruned steps) is right, ties a coin toss."""
    final = [n for n in _candidates(trace) if n.kind != NodeKind.STEP or n.meta.get(DVTS_LEAF)]
    chains = estimator_chains(trace, final, [True] * len(final))
    return majority_correct(chains, range(len(chains)))


def _config(run: RunSummary) -> str:
    changed = {k: v for k, v in run.params.items() if k != "seed"}
    defaults = _defaults(run.strategy)
    shown = {k: v for k, v in changed.items() if defaults.get(k, object()) != v}
    settings = ",".join(f"{k}={v}" for k, v in sorted(shown.items()))
    return f"{run.strategy}:{settings}" if settings else run.strategy


def _defaults(strategy: str) -> dict[str, Any]:
    found = find_strategy(strategy)
    return {p.name: p.default for p in found.params} if found is not None else {}


# -- knob ladders derived from the largest setting's runs ----------------------------------
def _knob_ladders(load: LoadTrace, runs: Sequence[RunSummary], cot_right: dict[str, float],
                  cot_tokens: float) -> list[dict[str, Any]]:
    rows = []
    for strategy, knob, smallest, variant, ladder in LADDERS:
        found = [r for r in runs if r.strategy == strategy]
        if not found:
            continue
        largest = max(r.params[knob] for r in found)
        chosen = {r.problem_id: load(r.id) for r in found if r.params[knob] == largest}
        for value in range(smallest, largest + 1):
            right, tokens = {}, 0.0
            for problem_id, trace in chosen.items():
                right[problem_id], spent = ladder(trace, value)
                tokens += spent
            rows.append(_row(f"{strategy} {knob}={value}{variant}", f"of {knob}={largest}", right,
                             tokens / len(chosen), cot_right, cot_tokens))
    return rows


def _cot_decoding(trace: Trace, k: int) -> tuple[float, float]:
    """A k-branch run decodes the first k first tokens by rank, each continued greedily (the
    same branches, up to batch numerics); it keeps the highest margin, the likelier first
    token on a tie (`aggregate=max`)."""
    ranked = _ranked_branches(trace, k)
    measured = [b for b in ranked if MARGIN in b.scores]
    pick = max(measured, key=lambda b: b.scores[MARGIN]) if measured else None
    right = float(pick is not None and bool(grade_answer(trace.problem, pick.answer)))
    return right, sum(len(b.tokens) for b in ranked) + 1  # + the probe's one token


def _cot_decoding_sum(trace: Trace, k: int) -> tuple[float, float]:
    """The same branches at `aggregate=sum`: the answer whose branches' margins add up
    highest (ties as a coin toss, where the run prefers the likelier first token)."""
    ranked = _ranked_branches(trace, k)
    measured = [b for b in ranked if MARGIN in b.scores]
    chains = estimator_chains(trace, measured, [True] * len(measured),
                              [b.scores[MARGIN] for b in measured])
    return (majority_correct(chains, range(len(chains))),
            sum(len(b.tokens) for b in ranked) + 1)


def _ranked_branches(trace: Trace, k: int) -> list[Node]:
    branches = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    return sorted(branches, key=lambda b: int(b.meta.get(FIRST_RANK, 0)))[:k]


def _adaptive_branch(trace: Trace, forks: int) -> tuple[float, float]:
    """A run with `forks` forks forks at the `forks` positions of highest entropy among
    those the larger run forked at (the same eligible positions, the same greedy chain);
    its chains vote, ties as a coin toss."""
    chains = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    greedy = [c for c in chains if GREEDY in c.meta]
    forked = [c for c in chains if FORK in c.meta]
    entropy = {c.meta[FORK]["at"]: c.meta[FORK]["entropy"] for c in forked}
    kept = set(sorted(entropy, key=lambda at: -entropy[at])[:forks])
    voters = greedy + [c for c in forked if c.meta[FORK]["at"] in kept]
    estimator = estimator_chains(trace, voters, [votes_in_run(trace, c) for c in voters])
    return (majority_correct(estimator, range(len(estimator))),
            sum(len(c.tokens) for c in voters))


def _dvts(trace: Trace, subtrees: int) -> tuple[float, float]:
    """Any `subtrees` of the larger run's independent subtrees stand for a smaller run (the
    mean over them, as maj@k): their leaves vote, weighted as the run weighed them."""
    leaves = sorted((n for n in trace.nodes if n.meta.get(DVTS_LEAF)),
                    key=lambda n: int(n.meta.get(SUBTREE, 0)))
    if not leaves:
        return 0.0, 0.0
    weighted = trace.params.get("vote") == "weighted"
    estimator = estimator_chains(trace, leaves, [leaf_votes(leaf) for leaf in leaves],
                                 [leaf.scores.get(VOTE_WEIGHT, 0.0) if weighted else 1.0
                                  for leaf in leaves])
    total = sum(len(n.tokens) for n in trace.nodes)
    k = min(subtrees, len(leaves))
    return maj_at_k(estimator, k).value, total * subtrees / int(trace.params["subtrees"])


def _hybrid(trace: Trace, each: int) -> tuple[float, float]:
    """Any `each` of the run's prose chains with any `each` of its programs stand for a run of
    `each` + `each` (the mean over them, as maj@k): the chains are drawn independently, so a
    smaller run's are a subset of the larger run's; one vote each, ties a coin toss."""
    chains = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    prose = [c for c in chains if c.meta.get(HYBRID_SOURCE) == PROSE]
    programs = [c for c in chains if c.meta.get(HYBRID_SOURCE) == CODE_SAMPLE]
    nodes = prose + programs
    estimator = estimator_chains(trace, nodes, [_voted(trace, c) for c in nodes])
    tokens = (sum(len(c.tokens) for c in prose) * each / max(len(prose), 1)
              + sum(len(c.tokens) for c in programs) * each / max(len(programs), 1))
    return _split_vote(estimator, len(prose), each), tokens


# (strategy, knob, its smallest value, what the rows' name adds, the pick at a smaller knob:
# (right, tokens))
LADDERS: tuple[tuple[str, str, int, str, Callable[[Trace, int], tuple[float, float]]], ...] = (
    ("cot-decoding", "k", 1, "", _cot_decoding),
    ("cot-decoding", "k", 1, " (aggregate=sum)", _cot_decoding_sum),
    ("adaptive-branch", "max_forks", 0, "", _adaptive_branch),  # 0: the greedy chain alone
    ("dvts", "subtrees", 1, "", _dvts),
    ("hybrid", "n_prose", 1, " (n_programs as many)", _hybrid),
)


# -- loading ---------------------------------------------------------------------------------
def _runs(ledger: Ledger, experiments: Sequence[str]) -> list[RunSummary]:
    """The complete runs of the experiments; a configuration stored in several counts once
    per problem (the first experiment's run)."""
    seen: set[tuple[str, str]] = set()
    runs = []
    for name in experiments:
        for run in ledger.runs_in_experiment(name):
            key = (_config(run) + f"|seed={run.seed}", run.problem_id)
            if run.status == "complete" and key not in seen:
                seen.add(key)
                runs.append(run)
    return runs


def _is_greedy_cot(run: RunSummary) -> bool:
    return run.strategy == "cot" and run.params.get("temperature") == 0


def _load(load: LoadTrace, runs: Sequence[RunSummary], cot: dict[str, RunSummary], n: int
          ) -> list[Problem]:
    prose = _by_problem(runs, lambda r: r.strategy == "self-consistency"
                        and r.params.get("n") == n and not r.params.get("early_stop", True)
                        and r.params.get("weight", "none") == "none")
    programs = _by_problem(runs, lambda r: r.strategy == "program" and r.params.get("n") == n)
    problems = []
    for problem_id in sorted(set(cot) & set(prose) & set(programs), key=_natural):
        prose_trace = load(prose[problem_id].id)
        program_trace = load(programs[problem_id].id)
        problems.append(Problem(
            id=problem_id,
            prose=_samples(prose_trace), programs=_samples(program_trace),
            prose_tokens=prose[problem_id].generated_tokens,
            program_tokens=programs[problem_id].generated_tokens, trace=prose_trace))
    return problems


def _by_problem(runs: Sequence[RunSummary], wanted: Callable[[RunSummary], bool]
                ) -> dict[str, RunSummary]:
    return {r.problem_id: r for r in runs if wanted(r)}


def _natural(problem_id: str) -> tuple[int, str]:
    digits = "".join(c for c in problem_id if c.isdigit())
    return (int(digits) if digits else 0, problem_id)


def _samples(trace: Trace) -> list[Sample]:
    nodes = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    return [Sample(n, _voted(trace, n)) for n in nodes]


# -- picks -----------------------------------------------------------------------------------
def _rows(problems: Sequence[Problem], n: int) -> list[tuple[str, str, dict[str, float], float]]:
    half = n // 2  # hybrid's default split of n = 8: 4 + 4
    rows: list[tuple[str, str, dict[str, float], float]] = []

    def add(name: str, chains: str, value: Callable[[Problem], float],
            tokens: Callable[[Problem], float]) -> None:
        rows.append((name, chains, {p.id: value(p) for p in problems},
                     sum(tokens(p) for p in problems) / len(problems)))

    for k in range(1, n):  # at the tokens of the other strategies: maj@k of the same chains
        add("vote of fewer chains (self-consistency, maj@k)", f"{k} prose",
            lambda p, k=k: maj_at_k(_chains(p, p.prose, None), k).value,
            lambda p, k=k: p.prose_tokens * k / n)
    add("vote (as run: self-consistency)", f"{n} prose", lambda p: _vote(p, p.prose, None),
        lambda p: p.prose_tokens)
    for scorer in SCORERS:
        add(f"vote weighted by {scorer}", f"{n} prose",
            lambda p, s=scorer: _vote(p, p.prose, s), lambda p: p.prose_tokens)
    for scorer in SCORERS:
        add(f"best by {scorer} (best-of-n)", f"{n} prose",
            lambda p, s=scorer: _best(p, p.prose, s), lambda p: p.prose_tokens)
    add("vote of programs (program)", f"{n} programs", lambda p: _vote(p, p.programs, None),
        lambda p: p.program_tokens)
    for each in (1, 2, half):
        add("prose and programs in one vote (hybrid)", f"{each} + {each}",
            lambda p, e=each: _hybrid_subsets(p, e),
            lambda p, e=each: (p.prose_tokens + p.program_tokens) * e / n)
    add("prose and programs in one vote (hybrid)", f"{n} + {n}",
        lambda p: _vote(p, p.prose + p.programs, None),
        lambda p: p.prose_tokens + p.program_tokens)
    add("pass@n: some prose chain right", f"{n} prose", lambda p: _any_right(p, p.prose),
        lambda p: p.prose_tokens)
    add("pass@n: some program right", f"{n} programs", lambda p: _any_right(p, p.programs),
        lambda p: p.program_tokens)
    add("pass@2n: some chain or program right", f"{n} + {n}",
        lambda p: _any_right(p, p.prose + p.programs),
        lambda p: p.prose_tokens + p.program_tokens)
    return rows


def _chains(p: Problem, samples: Sequence[Sample], scorer: str | None) -> list[Chain]:
    """The samples as estimator chains, one answer grouping over all of them; with a
    `scorer`, each voting sample's score, and its vote weighted by it."""
    nodes = [s.node for s in samples]
    voting = [s.votes for s in samples]
    if scorer is None:
        return estimator_chains(p.trace, nodes, voting)
    scoring = Scoring(p.trace.problem)
    scores = [_score(scoring, scorer, s.node) if s.votes else None for s in samples]
    to_weight = get_scorer(scorer).probability
    weights = [to_weight(score) if score is not None else 1.0 for score in scores]
    return estimator_chains(p.trace, nodes, voting, weights, scores)


def _score(scoring: Scoring, scorer: str, node: Node) -> float:
    candidate = Candidate(text=node.text, tokens=node.tokens, answer=node.answer)
    value = scoring.score(scorer, candidate)
    return value if math.isfinite(value) else -1e9


def _vote(p: Problem, samples: Sequence[Sample], weight: str | None) -> float:
    chains = _chains(p, samples, weight)
    return majority_correct(chains, range(len(chains)))


def _best(p: Problem, samples: Sequence[Sample], scorer: str) -> float:
    chains = _chains(p, samples, scorer)
    return best_correct(chains, range(len(chains)))


def _hybrid_subsets(p: Problem, each: int) -> float:
    """The mean over every `each` of the prose chains with every `each` of the programs."""
    return _split_vote(_chains(p, p.prose + p.programs, None), len(p.prose), each)


def _split_vote(chains: Sequence[Chain], n_prose: int, each: int) -> float:
    """One vote each over `each` of the first `n_prose` chains (prose) and `each` of the rest
    (programs), as the mean over every such choice (as maj@k); ties a coin toss."""
    prose, programs = range(n_prose), range(n_prose, len(chains))
    picks = [majority_correct(chains, a + b)
             for a, b in product(combinations(prose, min(each, len(prose))),
                                 combinations(programs, min(each, len(programs))))]
    return sum(picks) / len(picks)


def _any_right(p: Problem, samples: Sequence[Sample]) -> float:
    return float(any(c.correct for c in _chains(p, samples, None)))


if __name__ == "__main__":
    main()
