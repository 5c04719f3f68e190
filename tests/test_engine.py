"""The llama.cpp engine on the real SmolLM2-135M model."""

from __future__ import annotations

import threading

import pytest

from lab.engine.base import EngineError, GenerationCancelled, SamplingParams
from lab.engine.llamacpp import LlamaCppEngine

PROMPT = [{"role": "user", "content": "Write one sentence about the sea."}]
MATH = [{"role": "user", "content": "What is 12 plus 7? Explain step by step."}]


def test_n_samples_in_one_call_differ(smollm_engine):
    result = smollm_engine.generate(PROMPT, n=4, params=SamplingParams(temperature=1.0,
                                                                       max_tokens=24, seed=1))
    assert len(result.completions) == 4
    assert len(set(result.texts)) > 1
    assert all(c.tokens for c in result.completions)
    # the prompt is decoded once, not four times
    assert result.prompt_tokens_decoded < result.prompt_tokens


def test_same_seeds_same_texts(smollm_engine):
    params = SamplingParams(temperature=0.9, max_tokens=24, seed=42)
    first = smollm_engine.generate(PROMPT, n=3, params=params)
    second = smollm_engine.generate(PROMPT, n=3, params=params)
    assert first.texts == second.texts
    explicit = smollm_engine.generate(PROMPT, n=1, params=params, seeds=[43])
    assert explicit.texts[0] == first.texts[1]


def test_greedy_batched_equals_separate_calls(smollm_engine):
    params = SamplingParams(temperature=0, max_tokens=32)
    prompts = [MATH, PROMPT]
    for prompt in prompts:
        batched = smollm_engine.generate(prompt, n=4, params=params).texts
        single = [smollm_engine.generate(prompt, n=1, params=params).texts[0] for _ in range(2)]
        assert len(set(batched)) == 1
        assert batched[0] == single[0] == single[1]


def test_logprobs_match_rescoring(smollm_path):
    # A fresh engine: with a near-empty cache generation and rescoring use the same llama.cpp
    # attention kernel. In a context already holding 512+ cells (the shared engine, late in
    # the suite) a lone decode is split across threads and single tokens' log-probs moved
    # by up to 0.15 nats: rounding of another kernel, not another distribution.
    smollm_engine = LlamaCppEngine(smollm_path, n_ctx=4096, n_seq_max=32)
    result = smollm_engine.generate(MATH, n=2, params=SamplingParams(temperature=0.8,
                                                                     max_tokens=24, seed=5,
                                                                     top_logprobs=3))
    for completion in result.completions:
        assert all(t.logprob <= 0 for t in completion.tokens)
        assert all(len(t.top) == 3 for t in completion.tokens)
        assert all(t.entropy is not None and t.entropy >= 0 for t in completion.tokens)
        rescored = smollm_engine.score(MATH, [t.id for t in completion.tokens])
        total = sum(t.logprob for t in completion.tokens)
        assert sum(t.logprob for t in rescored) == pytest.approx(total, abs=0.05 * len(rescored))
        for mine, again in zip(completion.tokens, rescored, strict=True):
            assert mine.logprob == pytest.approx(again.logprob, abs=0.05)
    smollm_engine.close()


def test_stop_strings_stop(smollm_engine):
    params = SamplingParams(temperature=0, max_tokens=64)
    free = smollm_engine.generate(MATH, params=params).completions[0]
    assert len(free.text) > 12
    stop = free.text[8:12]
    stopped = smollm_engine.generate(MATH, params=params.with_(stop=(stop,))).completions[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == free.text[: free.text.index(stop)]


def test_max_tokens_and_finish_reason(smollm_engine):
    result = smollm_engine.generate(MATH, params=SamplingParams(temperature=0, max_tokens=5))
    assert result.completions[0].finish_reason == "length"
    assert result.completions[0].completion_tokens == 5


def test_prefix_continuation_equals_whole_generation(smollm_engine):
    params = SamplingParams(temperature=0, max_tokens=40)
    whole = smollm_engine.generate(MATH, params=params).completions[0]
    cut = 12
    prefix = "".join(t.text for t in whole.tokens[:cut])
    rest = smollm_engine.continue_prefixes(MATH, [prefix, prefix],
                                           params.with_(max_tokens=40 - cut))
    for completion in rest.completions:
        assert completion.prefix == prefix
        assert prefix + completion.text == whole.text
    # the prompt and prefix came from the cache: only the last token was decoded again
    assert rest.prompt_tokens_decoded <= 2


def test_continuing_cached_prefixes_decodes_only_new_tokens(smollm_engine):
    params = SamplingParams(temperature=0.8, max_tokens=16, seed=3, stop=("\n\n",))
    first = smollm_engine.generate(MATH, n=2, params=params)
    prefixes = [c.text + "\n\n" for c in first.completions]
    second = smollm_engine.continue_prefixes(MATH, prefixes, params)
    prompt_len = len(smollm_engine.prompt_tokens(MATH))
    assert second.prompt_tokens_decoded < prompt_len


def test_forget_cache_makes_the_next_call_decode_its_prompt_afresh(smollm_engine):
    params = SamplingParams(temperature=0.0, max_tokens=4)
    smollm_engine.generate(MATH, params=params)
    cached = smollm_engine.generate(MATH, params=params)
    smollm_engine.forget_cache()
    fresh = smollm_engine.generate(MATH, params=params)
    prompt_len = len(smollm_engine.prompt_tokens(MATH))
    assert cached.prompt_tokens_decoded < prompt_len
    assert fresh.prompt_tokens_decoded == prompt_len


def test_on_token_can_stop_one_sequence(smollm_engine):
    def stop_first_after_three(index: int, token) -> bool:
        stop_first_after_three.seen[index] = stop_first_after_three.seen.get(index, 0) + 1
        return index == 0 and stop_first_after_three.seen[index] >= 3

    stop_first_after_three.seen = {}
    result = smollm_engine.generate(PROMPT, n=2, params=SamplingParams(max_tokens=20, seed=9),
                                    on_token=stop_first_after_three)
    assert result.completions[0].finish_reason == "stopped"
    assert result.completions[0].completion_tokens == 3
    assert result.completions[1].completion_tokens > 3


def test_cancel_from_another_thread_keeps_partial(smollm_engine):
    cancel = threading.Event()
    seen = []

    def on_token(index: int, token) -> None:
        seen.append(token)
        if len(seen) == 6:
            threading.Thread(target=cancel.set).start()

    with pytest.raises(GenerationCancelled) as info:
        smollm_engine.generate(PROMPT, n=2, params=SamplingParams(max_tokens=200, seed=2),
                               on_token=on_token, cancel=cancel)
    partial = info.value.partial
    assert all(c.finish_reason == "cancelled" for c in partial.completions)
    assert 0 < partial.completion_tokens < 400
    # the engine still works afterwards
    assert smollm_engine.generate(PROMPT, params=SamplingParams(max_tokens=4)).completions


def test_next_token_logprobs(smollm_engine):
    prompt = [{"role": "user", "content": "Is 2 + 2 = 4? Answer Yes or No."}]
    logprobs = smollm_engine.next_token_logprobs(prompt, ["Yes", "No"])
    assert set(logprobs) == {"Yes", "No"}
    assert all(v <= 0 for v in logprobs.values())


def test_raw_mode_and_chat_template(smollm_engine):
    assert smollm_engine.chat.is_chat
    text = smollm_engine.format_prompt(PROMPT)
    assert "Write one sentence" in text and text != PROMPT[0]["content"]
    assert smollm_engine.format_prompt("Once upon a time") == "Once upon a time"
    result = smollm_engine.generate("Once upon a time", params=SamplingParams(max_tokens=8))
    assert result.completions[0].completion_tokens > 0


def test_too_long_for_context_is_a_clear_error(smollm_engine):
    with pytest.raises(EngineError, match="does not fit the context"):
        smollm_engine.generate(PROMPT, params=SamplingParams(max_tokens=100_000))


def test_corrupt_and_missing_gguf_are_clear_errors(tmp_path, smollm_path):
    from lab.models import ModelError

    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello, I am not a model")
    with pytest.raises(ModelError, match="not a GGUF file"):
        LlamaCppEngine(not_gguf)
    truncated = tmp_path / "half.gguf"
    with smollm_path.open("rb") as fh:
        truncated.write_bytes(fh.read(20_000_000))
    with pytest.raises(ModelError, match="truncated|not a valid GGUF"):
        LlamaCppEngine(truncated)
    with pytest.raises(ModelError, match="no such model file"):
        LlamaCppEngine(tmp_path / "absent.gguf")


def test_more_samples_than_one_batch_run_in_groups(smollm_path):
    engine = LlamaCppEngine(smollm_path, n_ctx=2048, n_seq_max=4)  # two sequences a batch
    seen: set[int] = set()
    params = SamplingParams(temperature=0.9, max_tokens=6, seed=11)
    result = engine.generate(PROMPT, n=5, params=params, on_token=lambda i, t: seen.add(i))
    assert [c.index for c in result.completions] == [0, 1, 2, 3, 4]
    assert [c.seed for c in result.completions] == [11, 12, 13, 14, 15]
    assert seen == {0, 1, 2, 3, 4}
    # each sample is the one its seed gives, whatever group it was drawn in
    alone = engine.generate(PROMPT, n=1, params=params, seeds=[14])
    assert alone.texts[0] == result.texts[3]
    engine.close()
