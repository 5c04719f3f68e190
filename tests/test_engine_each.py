"""Several different prompts decoded in one batch: each gets what it would get alone."""

from __future__ import annotations

from lab.engine.base import SamplingParams
from lab.engine.scripted import ScriptedEngine

PROMPTS = [
    [{"role": "user", "content": "What is 2 + 3? Answer briefly."}],
    [{"role": "user", "content": "Name a colour."}],
    "The capital of France is",
]


def test_generate_each_answers_each_prompt(smollm_engine):
    params = SamplingParams(temperature=0, max_tokens=24)
    together = smollm_engine.generate_each(PROMPTS, params)
    assert [c.index for c in together.completions] == [0, 1, 2]
    assert together.prompt_tokens == sum(len(smollm_engine.prompt_tokens(p)) for p in PROMPTS)
    assert together.texts[2].startswith(" Paris")
    # One prompt alone gives what `generate` gives. Several different prompts decoded
    # together can part from one-at-a-time greedy text at near-ties: llama.cpp's CPU flash
    # attention takes a tiled kernel (F32 sums) for a batch of 64 or more tokens and a
    # per-row one (F16 sums) below that, so a short prompt prefilled beside others is
    # rounded differently from the same prompt alone.
    for prompt in PROMPTS:
        alone = smollm_engine.generate(prompt, n=1, params=params).texts
        assert smollm_engine.generate_each([prompt], params).texts == alone


def test_generate_each_runs_in_groups_larger_than_a_batch(smollm_engine):
    params = SamplingParams(temperature=0, max_tokens=4)
    many = PROMPTS * (smollm_engine.max_batch_sequences // len(PROMPTS) + 1)
    result = smollm_engine.generate_each(many, params)
    assert len(result.completions) == len(many)
    assert [c.index for c in result.completions] == list(range(len(many)))
    assert all(text.startswith(" Paris") for text in result.texts[2::3])


def test_generate_each_fallback_answers_each_prompt():
    engine = ScriptedEngine(["one", "two"])
    result = engine.generate_each(["a", "b"], SamplingParams(temperature=0))
    assert [c.index for c in result.completions] == [0, 1]
    assert len(result.completions) == 2
