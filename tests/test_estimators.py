"""The resampling estimators against exact computations on small cases, and the intervals."""

from __future__ import annotations

import math
import random
from itertools import combinations

import pytest

from lab.evaluation.estimators import (
    Chain,
    best_at_k,
    chains_pass_at_k,
    maj_at_k,
    pass_at_k,
    single_run_sd,
    subset_mean,
    wilson_interval,
)


def votes(*groups: int | None, right: tuple[int, ...] = (0,)) -> list[Chain]:
    """Chains by answer group (None: no answer); the groups in `right` are correct."""
    return [Chain(group=g, correct=g in right) for g in groups]


def test_majority_at_k_by_hand():
    chains = votes(0, 0, 1, 2)  # A A B C, A right
    # pairs: AA -> 1; AB, AC (twice each) -> ties -> 1/2; BC -> 0: (1 + 4 * 0.5) / 6
    assert maj_at_k(chains, 2).value == pytest.approx(0.5)
    # triples: AAB, AAC -> 1; ABC (twice) -> three-way tie -> 1/3: (2 + 2/3) / 4
    assert maj_at_k(chains, 3).value == pytest.approx(2 / 3)
    assert maj_at_k(chains, 4).value == 1.0
    assert maj_at_k(chains, 1).value == pytest.approx(0.5)  # k = 1: the share of right chains


def test_chains_without_an_answer_take_a_place_but_do_not_vote():
    chains = votes(0, None, 1)
    # pairs: {A, -} -> 1, {A, B} -> 1/2, {-, B} -> 0
    assert maj_at_k(chains, 2).value == pytest.approx(0.5)
    assert maj_at_k(votes(None, None), 1).value == 0.0


def test_weighted_majority():
    chains = [Chain(0, True, 0.9), Chain(1, False, 0.4), Chain(1, False, 0.4)]
    # {A, B}, {A, B'} -> A (0.9 > 0.4); {B, B'} -> B: 2 of 3
    assert maj_at_k(chains, 2).value == pytest.approx(2 / 3)
    assert maj_at_k(chains, 3).value == 1.0  # 0.9 > 0.8


def test_best_at_k_matches_the_rank_formula():
    rng = random.Random(3)
    chains = [Chain(0, rng.random() < 0.4, score=rng.random()) for _ in range(9)]
    ranked = sorted(chains, key=lambda c: -(c.score or 0))
    n = len(chains)
    for k in range(1, n + 1):
        # the chain ranked i is the best of a k-subset in C(n-1-i, k-1) of the C(n, k)
        exact = sum(math.comb(n - 1 - i, k - 1) * c.correct
                    for i, c in enumerate(ranked)) / math.comb(n, k)
        assert best_at_k(chains, k).value == pytest.approx(exact)


def test_best_at_k_skips_chains_without_an_answer_and_splits_ties():
    chains = [Chain(None, False, score=9.0), Chain(0, True, score=1.0),
              Chain(1, False, score=1.0)]
    # pairs: {-, right} -> 1, {-, wrong} -> 0, {right, wrong} -> tie -> 1/2
    assert best_at_k(chains, 2).value == pytest.approx(0.5)


def test_pass_at_k_formula_equals_enumeration():
    rng = random.Random(1)
    for _ in range(20):
        n = rng.randint(1, 10)
        correct = [rng.random() < 0.3 for _ in range(n)]
        for k in range(1, n + 1):
            subsets = list(combinations(range(n), k))
            exact = sum(any(correct[i] for i in s) for s in subsets) / len(subsets)
            assert pass_at_k(n, sum(correct), k) == pytest.approx(exact)
            chains = [Chain(0 if c else 1, c) for c in correct]
            assert chains_pass_at_k(chains, k).value == pytest.approx(exact)


def test_monte_carlo_is_close_to_exact_and_reproducible():
    rng = random.Random(7)
    chains = [Chain(rng.choice([0, 0, 1, 2, None]), False) for _ in range(14)]
    chains = [Chain(c.group, c.group == 0) for c in chains]
    exact = maj_at_k(chains, 5)
    sampled = maj_at_k(chains, 5, exact_limit=0, draws=4000)
    assert exact.exact and not sampled.exact
    assert sampled.value == pytest.approx(exact.value, abs=0.03)
    assert maj_at_k(chains, 5, exact_limit=0, draws=4000).value == sampled.value


def test_large_cases_switch_to_monte_carlo():
    chains = votes(*([0] * 20 + [1] * 20))
    estimate = maj_at_k(chains, 20)  # C(40, 20) subsets: too many to enumerate
    assert not estimate.exact
    assert estimate.value == pytest.approx(0.5, abs=0.03)


def test_subset_mean_rejects_bad_k():
    with pytest.raises(ValueError):
        subset_mean(3, 0, lambda s: 1.0)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_wilson_interval():
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_single_run_spread():
    assert single_run_sd([1.0, 0.0, 1.0]) == 0.0
    assert single_run_sd([0.5, 0.5]) == pytest.approx(math.sqrt(0.5) / 2)
