"""Searches keep their cache: a scoring call (self-verify, judge) between two steps of a search
runs in a sequence of its own and leaves the search's cached paths in place."""

from __future__ import annotations

from lab.engine.base import SamplingParams
from lab.strategies.registry import run_strategy
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import TraceStatus

MATH = [{"role": "user", "content": "What is 12 plus 7? Explain step by step."}]
VERIFY = [{"role": "user", "content": "Is 12 plus 7 equal to 19? Answer Yes or No."}]
PARAMS = SamplingParams(temperature=0.8, max_tokens=16, seed=3, stop=("\n\n",))


def _two_steps(engine, verify: bool):
    first = engine.generate(MATH, n=2, params=PARAMS)
    if verify:
        engine.next_token_logprobs(VERIFY, ["Yes", "No"])
        engine.score(VERIFY, "Yes, it is.")
    prefixes = [c.text + "\n\n" for c in first.completions]
    return engine.continue_prefixes(MATH, prefixes, PARAMS)


def test_scoring_between_two_steps_leaves_the_steps_cached(smollm_engine):
    plain = _two_steps(smollm_engine, verify=False)
    verified = _two_steps(smollm_engine, verify=True)
    assert [c.text for c in verified.completions] == [c.text for c in plain.completions]
    assert verified.prompt_tokens_decoded == plain.prompt_tokens_decoded
    assert plain.prompt_tokens_decoded < len(smollm_engine.prompt_tokens(MATH))


def test_repeated_scoring_prompts_reuse_their_own_sequence(smollm_engine):
    cold = smollm_engine.next_token_logprobs(VERIFY, ["Yes", "No"])
    smollm_engine.generate(MATH, n=2, params=PARAMS)
    calls: list[int] = []
    cache = smollm_engine._cache
    prepare_aside = cache.prepare_aside

    def counting(target, logits_from):
        decoded, seconds = prepare_aside(target, logits_from)
        calls.append(decoded)
        return decoded, seconds

    cache.prepare_aside = counting
    try:
        warm = smollm_engine.next_token_logprobs(VERIFY, ["Yes", "No"])
    finally:
        del cache.prepare_aside
    assert calls == [1]  # only the last prompt token, for its logits
    assert warm.keys() == cold.keys()
    for key, value in cold.items():
        assert abs(warm[key] - value) < 1e-4


def test_beam_search_with_self_verify_continues_its_paths_from_the_cache(smollm_engine):
    problem = Problem(id="c1", question="What is 12 plus 7?", gold="19", kind=AnswerKind.NUMBER)
    decoded: list[tuple[int, int]] = []  # (prompt tokens decoded, sequences) per expansion
    engine = smollm_engine
    original = engine._continue_group

    def recording(prompt, prefixes, *args, **kwargs):
        generation = original(prompt, prefixes, *args, **kwargs)
        decoded.append((generation.prompt_tokens_decoded, len(prefixes)))
        return generation

    engine._continue_group = recording
    try:
        trace = run_strategy("beam-search", problem, engine,
                             {"width": 2, "branch": 2, "depth": 3, "max_tokens": 24,
                              "scorer": "self-verify", "seed": 5})
    finally:
        del engine._continue_group
    assert trace.status == TraceStatus.COMPLETE, trace.error
    assert len(decoded) >= 2, "the search ended after one step: nothing to check"
    prompt = trace.compute.prompt_tokens
    assert prompt > 0
    # after the first expansion each path continues from its cached parent: a few tokens each
    # (the step separator, retokenised), never the prompt and path again
    for tokens, sequences in decoded[1:]:
        assert tokens <= 4 * sequences, decoded
