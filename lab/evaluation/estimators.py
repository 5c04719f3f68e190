"""Accuracy estimators: Wilson intervals, and maj@k, best@k and pass@k from one run's chains.

One run with N sampled chains stands for every smaller run: a run with k samples is a random
k-subset of the N chains. maj@k and best@k are the expectation, over all k-subsets, of
"the subset's pick is correct"; pass@k is "some chain of the subset is correct".

Ties are broken uniformly at random, so a subset whose top vote weight (or top score) is
shared by t answers, c of them correct, counts c/t. (The strategies break vote ties by a
scorer instead; uniform ties keep the estimate a function of the answers alone.) The
expectation is exact, by enumerating the subsets, when there are at most `EXACT_LIMIT` of
them, and otherwise a Monte Carlo mean over `DRAWS` subsets drawn with a fixed seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

Z95 = 1.959963984540054  # the two-sided 95% normal quantile
EXACT_LIMIT = 20_000  # most subsets enumerated exactly
DRAWS = 4_000  # Monte Carlo subsets when there are more
SEED = 0
TIE = 1e-9


@dataclass(frozen=True)
class Chain:
    """One sampled chain, reduced to what the estimators need."""

    group: int | None  # its answer group; None: no answer, or it does not vote
    correct: bool  # its answer is right (False without an answer)
    weight: float = 1.0  # vote weight
    score: float | None = None  # the scorer's value, for best@k


@dataclass(frozen=True)
class Estimate:
    value: float  # the expectation over k-subsets
    exact: bool  # by enumeration (True) or Monte Carlo (False)


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when n is 0. `successes` may be a
    fraction (an expected count)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k: the chance a random k-subset of n chains, c of them correct,
    holds a correct one: 1 - C(n-c, k) / C(n, k)."""
    if not 0 < k <= n:
        raise ValueError(f"k must be between 1 and n ({n}) (got {k})")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def subset_mean(
    n: int,
    k: int,
    value: Callable[[Sequence[int]], float],
    *,
    exact_limit: int = EXACT_LIMIT,
    draws: int = DRAWS,
    seed: int = SEED,
) -> Estimate:
    """The mean of `value(subset)` over the k-subsets of range(n)."""
    if not 0 < k <= n:
        raise ValueError(f"k must be between 1 and n ({n}) (got {k})")
    count = math.comb(n, k)
    if count <= exact_limit:
        total = math.fsum(value(s) for s in combinations(range(n), k))
        return Estimate(total / count, True)
    rng = random.Random(seed)
    population = range(n)
    total = math.fsum(value(rng.sample(population, k)) for _ in range(draws))
    return Estimate(total / draws, False)


def majority_correct(chains: Sequence[Chain], subset: Sequence[int]) -> float:
    """How often the weighted majority of the subset is right, ties broken uniformly."""
    weights: dict[int, float] = {}
    right: dict[int, bool] = {}
    for i in subset:
        chain = chains[i]
        if chain.group is not None:
            weights[chain.group] = weights.get(chain.group, 0.0) + chain.weight
            right[chain.group] = chain.correct
    if not weights:
        return 0.0
    top = max(weights.values())
    leaders = [g for g, w in weights.items() if top - w <= TIE]
    return sum(right[g] for g in leaders) / len(leaders)


def best_correct(chains: Sequence[Chain], subset: Sequence[int]) -> float:
    """How often the best-scored answered chain of the subset is right, ties uniform."""
    answered = [chains[i] for i in subset if chains[i].group is not None]
    if not answered:
        return 0.0
    scores = [c.score if c.score is not None else -math.inf for c in answered]
    top = max(scores)
    leaders = [c for c, s in zip(answered, scores, strict=True) if s == top or top - s <= TIE]
    return sum(c.correct for c in leaders) / len(leaders)


def maj_at_k(chains: Sequence[Chain], k: int, **options: int) -> Estimate:
    return subset_mean(len(chains), k, lambda s: majority_correct(chains, s), **options)


def best_at_k(chains: Sequence[Chain], k: int, **options: int) -> Estimate:
    return subset_mean(len(chains), k, lambda s: best_correct(chains, s), **options)


def chains_pass_at_k(chains: Sequence[Chain], k: int) -> Estimate:
    return Estimate(pass_at_k(len(chains), sum(c.correct for c in chains), k), True)


def single_run_sd(per_problem: Sequence[float]) -> float:
    """The standard deviation of the accuracy one real k-sample run per problem would
    measure, around the estimate: each problem is right with its own chance q."""
    if not per_problem:
        return 0.0
    return math.sqrt(sum(q * (1 - q) for q in per_problem)) / len(per_problem)

