"""The engine's sampler: exact draws from the tempered distribution, and top-k/top-p/min-p."""

from __future__ import annotations

import numpy as np
import pytest

from lab.engine.base import SamplingParams
from lab.engine.sequence import TAIL, Sampler, token_stats

LOGITS = np.array([2.0, 1.0, 0.5, 0.0, -1.0, -30.0] + [-40.0] * 994, dtype=np.float32)


def frequencies(params: SamplingParams, draws: int = 40_000) -> np.ndarray:
    sampler = Sampler(params, seed=1)
    peak = float(LOGITS.max())
    counts = np.bincount([sampler.sample(LOGITS, peak) for _ in range(draws)],
                         minlength=len(LOGITS))
    return counts / draws


def softmax(values: np.ndarray) -> np.ndarray:
    weights = np.exp(values - values.max())
    return weights / weights.sum()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.5])
def test_draws_follow_the_tempered_distribution(temperature):
    seen = frequencies(SamplingParams(temperature=temperature))
    expected = softmax(LOGITS.astype(np.float64) / temperature)
    assert np.abs(seen - expected).max() < 0.01


def test_greedy_is_the_argmax():
    assert Sampler(SamplingParams(temperature=0), 0).sample(LOGITS, 2.0) == 0


def test_top_k_top_p_and_min_p_truncate_before_temperature():
    assert set(np.flatnonzero(frequencies(SamplingParams(top_k=2, temperature=1)))) == {0, 1}
    # raw probabilities 0.53, 0.20, 0.12, 0.07, ...: top-p 0.7 keeps the first two
    assert set(np.flatnonzero(frequencies(SamplingParams(top_p=0.7, temperature=1)))) == {0, 1}
    kept = frequencies(SamplingParams(min_p=0.2, temperature=1))
    assert set(np.flatnonzero(kept)) == {0, 1, 2}  # 0.12 >= 0.2 * 0.53
    two = softmax(np.array([2.0, 1.0]))
    assert np.abs(frequencies(SamplingParams(top_k=2, temperature=1))[:2] - two).max() < 0.01


def test_same_seed_same_draws():
    params = SamplingParams(temperature=1.0)
    a, b = Sampler(params, 7), Sampler(params, 7)
    assert [a.sample(LOGITS, 2.0) for _ in range(50)] == [b.sample(LOGITS, 2.0) for _ in range(50)]


def full_sort_truncation(params: SamplingParams, logits: np.ndarray) -> np.ndarray:
    """Top-k, top-p and min-p by sorting every token above the tail: the reference."""
    raw = np.exp(logits - logits.max())
    total = float(raw.sum(dtype=np.float64))
    ids = np.flatnonzero(raw > TAIL)
    ids = ids[np.argsort(-logits[ids], kind="stable")]
    if params.top_k > 0:
        ids = ids[: params.top_k]
    probs = raw[ids] / total
    keep = len(ids)
    if params.top_p < 1.0:
        keep = min(keep, int(np.searchsorted(np.cumsum(probs), params.top_p)) + 1)
    if params.min_p > 0.0:
        keep = min(keep, max(1, int(np.count_nonzero(probs >= params.min_p * probs[0]))))
    return ids[:keep]


def test_truncation_looks_at_the_head_first_and_cuts_where_a_full_sort_would():
    rng = np.random.default_rng(0)
    for _ in range(600):
        size = int(rng.choice([50, 2000, 20000]))
        logits = (rng.standard_normal(size) * rng.choice([0.3, 1.0, 3.0, 8.0])).astype(np.float32)
        if rng.random() < 0.5:
            logits[rng.integers(size)] += rng.uniform(0, 20)  # a peaked distribution
        if rng.random() < 0.3:
            logits = np.round(logits)  # ties, broken by token id
        params = SamplingParams(temperature=0.7, top_p=float(rng.choice([1.0, 0.5, 0.95, 0.999])),
                                top_k=int(rng.choice([0, 1, 40])),
                                min_p=float(rng.choice([0.0, 0.05, 1e-5])))
        if params.top_k == 0 and params.top_p == 1.0 and params.min_p == 0.0:
            continue
        fast = Sampler(params, 1)._truncated(logits, float(logits.max()))
        assert np.array_equal(fast, full_sort_truncation(params, logits))


def test_the_shared_exponentials_change_no_draw_and_no_statistic():
    """The engine computes exp(logits - peak) once a token for the sampler and the token's
    statistics; given or computed, the same ids and the same values."""
    rng = np.random.default_rng(3)
    params = SamplingParams(temperature=0.8, top_p=0.95)
    for _ in range(20):
        logits = (rng.normal(0, 2, 5000) - 12).astype(np.float32)
        logits[rng.choice(5000, 8, replace=False)] = rng.uniform(0, 5, 8)
        peak = float(logits.max())
        raw = np.exp(logits - peak)
        alone, shared = Sampler(params, 7).sample(logits, peak), Sampler(params, 7).sample(
            logits, peak, raw)
        assert alone == shared
        piece = lambda _id: b"x"  # noqa: E731
        a = token_stats(alone, logits, 3, piece, peak)
        b = token_stats(shared, logits, 3, piece, peak, raw)
        assert (a.logprob, a.entropy, a.self_certainty, a.top) == (
            b.logprob, b.entropy, b.self_certainty, b.top)
