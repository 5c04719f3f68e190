"""Searches keep their cache: a scoring call (self-verify, judge) between two steps of a search
runs in the engine's scoring context and leaves the search's cached paths in place, where
they sit, so greedy text and samples after it are what they would have been without it."""

from __future__ import annotations

from lab.engine.base import SamplingParams
from lab.strategies.registry import run_strategy
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import TraceStatus

MATH = [{"role": "user", "content": "What is 12 plus 7? Explain step by step."}]
VERIFY = [{"role": "user", "content": "Is 12 plus 7 equal to 19? Answer Yes or No."}]
PARAMS = SamplingParams(temperature=0.8, max_tokens=16, seed=3, stop=("\n\n",))
# long enough that, held in the search's own KV cache, it would take a lone sequence's
# decode past 512 cells, where llama.cpp switches attention kernels
LONG_VERIFY = [{"role": "user", "content": "Check this carefully. " * 120
                + "Is 12 plus 7 equal to 19? Answer Yes or No."}]


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


def test_greedy_stays_exact_after_long_scoring_calls(smollm_engine):
    # the order that broke when scoring shared the search's context: a long scoring prompt
    # first, then the exactness checks of test_engine.py
    greedy = SamplingParams(temperature=0, max_tokens=32)
    assert len(smollm_engine.prompt_tokens(LONG_VERIFY)) > 512
    smollm_engine.next_token_logprobs(LONG_VERIFY, ["Yes", "No"])
    batched = smollm_engine.generate(MATH, n=4, params=greedy).texts
    smollm_engine.score(LONG_VERIFY, "Yes, it is.")
    single = smollm_engine.generate(MATH, n=1, params=greedy).texts
    assert len(set(batched)) == 1
    assert single[0] == batched[0]
    whole = smollm_engine.generate(MATH, params=greedy).completions[0]
    prefix = "".join(t.text for t in whole.tokens[:12])
    smollm_engine.next_token_logprobs(LONG_VERIFY, ["Yes", "No"])
    rest = smollm_engine.continue_prefixes(MATH, [prefix], greedy.with_(max_tokens=20))
    assert prefix + rest.completions[0].text == whole.text


def test_repeated_scoring_prompts_reuse_their_own_cache(smollm_engine, monkeypatch):
    cold = smollm_engine.next_token_logprobs(VERIFY, ["Yes", "No"])
    smollm_engine.generate(MATH, n=2, params=PARAMS)
    cache = smollm_engine._scoring()
    decoded: list[int] = []
    prepare = cache.prepare

    def counting(targets, logits_from):
        tokens, seconds = prepare(targets, logits_from)
        decoded.append(tokens)
        return tokens, seconds

    monkeypatch.setattr(cache, "prepare", counting)
    warm = smollm_engine.next_token_logprobs(VERIFY, ["Yes", "No"])
    assert decoded == [1]  # only the last prompt token, for its logits
    assert warm == cold


def test_beam_search_with_self_verify_continues_its_paths_from_the_cache(smollm_engine,
                                                                         monkeypatch):
    problem = Problem(id="c1", question="What is 12 plus 7?", gold="19", kind=AnswerKind.NUMBER)
    decoded: list[tuple[int, int]] = []  # (prompt tokens decoded, sequences) per expansion
    engine = smollm_engine
    original = engine._generate_targets

    def recording(targets, prefixes, *args, **kwargs):
        generation = original(targets, prefixes, *args, **kwargs)
        decoded.append((generation.prompt_tokens_decoded, len(prefixes)))
        return generation

    monkeypatch.setattr(engine, "_generate_targets", recording)
    trace = run_strategy("beam-search", problem, engine,
                         {"width": 2, "branch": 2, "depth": 3, "max_tokens": 24,
                          "scorer": "self-verify", "seed": 5})
    assert trace.status == TraceStatus.COMPLETE, trace.error
    assert len(decoded) >= 2, "the search ended after one step: nothing to check"
    # after the first expansion each path continues from its cached parent: a few tokens each
    # (the step separator, retokenised), never the prompt and path again
    for tokens, sequences in decoded[1:]:
        assert tokens <= 4 * sequences, decoded
