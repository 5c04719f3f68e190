"""best-of-n (mean-logprob or programmatic) from the chains a self-consistency sweep drew.

With the same prompt and sampling settings, `best-of-n` draws its chains from the same
distribution as `self-consistency` (one batched call, sequence i on seed + i: with the same
seed usually the very same tokens); the two differ only in the pick: the vote, or the
answered chain with the highest mean log-prob (a log-prob scorer reads the sampled tokens, so
it costs no model call). So an experiment's self-consistency runs with every chain drawn
(`early_stop=false`) also give best@k for every k <= N, with the lab's own scorer and
estimator (ties uniform, cut chains not ranked, as in the runs), as sample reuse gives maj@k.

`--check EXPERIMENT` compares with real best-of-n runs stored there (same problems, n and
seed): per problem, whether the chains' tokens are the same and the outcomes agree. Tokens
can differ where llama.cpp's numerics do (a prompt decoded or served from the cache): a
near-tie between two tokens then goes the other way, and the chains part from there.

`--scorer programmatic` ranks by the problem kind's own check (the arithmetic recomputed),
also without a model call; `--wins` lists the problems where the pick of all N chains beats
their vote (candidates for Learn's verifier demonstration, scripts/find_demos.py --first).

    python scripts/rerank.py readme-arith30 --ks 1,2,4,8 --check check-bon
    python scripts/rerank.py readme-arith50 --scorer programmatic --wins
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from lab.evaluation.estimators import (
    Chain,
    best_at_k,
    best_correct,
    majority_correct,
    wilson_interval,
)
from lab.evaluation.resample import chains_of
from lab.scorers import mean_logprob
from lab.scorers.base import Candidate
from lab.scorers.programmatic import programmatic_verdict
from lab.store.ledger import Ledger
from lab.store.queries import RunSummary
from lab.trace import Node, NodeKind, Trace

SCORERS = ("mean-logprob", "programmatic")  # the scorers that read a chain without a model


def full_draws(ledger: Ledger, experiment: str) -> dict[tuple[str, str], RunSummary]:
    """The newest complete self-consistency run per problem that drew every chain."""
    runs: dict[tuple[str, str], RunSummary] = {}
    for run in ledger.runs_in_experiment(experiment):  # newest first: the first one stays
        if (run.strategy == "self-consistency" and run.status == "complete"
                and run.params.get("early_stop") is False and run.budget is None):
            runs.setdefault((run.model, run.problem_id), run)
    return runs


def ranked_chains(trace: Trace, scorer: str = SCORERS[0]) -> list[Chain]:
    """The run's chains as estimator input, each scored by `scorer`."""
    nodes = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    return [replace(chain, score=chain_score(trace, node, scorer))
            for chain, node in zip(chains_of(trace), nodes, strict=True)]


def chain_score(trace: Trace, node: Node, scorer: str) -> float:
    if scorer == "programmatic":
        candidate = Candidate(node.text, node.tokens, node.answer)
        return programmatic_verdict(trace.problem, candidate).score
    return mean_logprob(node.tokens)


def chain_token_ids(trace: Trace) -> list[list[int]]:
    """Each sampled chain's token ids, in the run's order."""
    return [[t.id for t in n.tokens] for n in trace.nodes if n.kind == NodeKind.CHAIN]


def table(ledger: Ledger, runs: dict[tuple[str, str], RunSummary], ks: list[int],
          scorer: str = SCORERS[0], wins: bool = False) -> None:
    traces = [ledger.load_trace(run.id) for run in runs.values()]
    ranked = [ranked_chains(t, scorer) for t in traces]
    n = min(len(chains) for chains in ranked)
    if wins:
        print_wins(traces, ranked)
    print(f"{len(traces)} problems, {n} chains each; best-of-n ({scorer}) from the same chains")
    print("| n | best@k [95% CI] | tokens/problem |")
    print("|---|---|---|")
    for k in [k for k in ks if k <= n]:
        chances = [best_at_k(chains, k).value for chains in ranked]
        low, high = wilson_interval(sum(chances), len(traces))
        tokens = sum(t.compute.all_generated * k / n for t in traces) / len(traces)
        print(f"| {k} | {sum(chances) / len(traces):.3f} [{low:.3f}, {high:.3f}] | {tokens:.0f} |")


def print_wins(traces: list[Trace], ranked: list[list[Chain]]) -> None:
    """The problems where the pick of all the chains is right more often than their vote."""
    for trace, chains in sorted(zip(traces, ranked, strict=True), key=lambda p: p[0].problem.id):
        every = range(len(chains))
        pick, vote = best_correct(chains, every), majority_correct(chains, every)
        if pick > vote:
            print(f"{trace.problem.id}: the pick is right {pick:.2f} of the time (ties uniform), "
                  f"the vote {vote:.2f}; right chains {sum(c.correct for c in chains)} of "
                  f"{len(chains)}")


def check(ledger: Ledger, runs: dict[tuple[str, str], RunSummary],
          experiment: str, scorer: str = SCORERS[0]) -> tuple[int, int, int]:
    """Real best-of-n runs against the self-consistency chains on the same problems: how many
    were compared, drew identical chains, and among those came out the same."""
    same_tokens = same_pick = compared = 0
    for run in ledger.runs_in_experiment(experiment):
        key = (run.model, run.problem_id)
        if run.strategy != "best-of-n" or run.status != "complete" or key not in runs:
            continue
        real = ledger.load_trace(run.id)
        drawn = ledger.load_trace(runs[key].id)
        chains = ranked_chains(drawn, scorer)
        pick_right = best_correct(chains, range(len(chains)))  # ties count as a share
        agrees = pick_right == float(bool(real.correct))
        identical = chain_token_ids(real) == chain_token_ids(drawn)
        compared += 1
        same_tokens += identical
        same_pick += identical and agrees
        print(f"{run.problem_id}: chains {'identical' if identical else 'differ'}"
              f", best-of-n said {real.final_answer!r} ({'right' if real.correct else 'wrong'}),"
              f" the re-ranked pick is right {pick_right:g} of the time")
    print(f"checked {compared}: identical chains {same_tokens}, of which the same outcome "
          f"{same_pick}")
    return compared, same_tokens, same_pick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--ks", default="1,2,4,8")
    parser.add_argument("--check", metavar="EXPERIMENT", help="real best-of-n runs to compare")
    parser.add_argument("--scorer", choices=SCORERS, default=SCORERS[0])
    parser.add_argument("--wins", action="store_true",
                        help="list the problems where the pick beats the vote of the same chains")
    args = parser.parse_args()
    ledger = Ledger(recover=False)
    runs = full_draws(ledger, args.experiment)
    if not runs:
        raise SystemExit(f"no self-consistency run with every chain drawn in {args.experiment}")
    table(ledger, runs, [int(k) for k in args.ks.split(",")], args.scorer, args.wins)
    if args.check:
        check(ledger, runs, args.check, args.scorer)


if __name__ == "__main__":
    main()
