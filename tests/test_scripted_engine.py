"""The scripted engine behaves like the real one where strategies can tell."""

from __future__ import annotations

import math
import threading

import pytest

from lab.engine.base import GenerationCancelled, SamplingParams
from lab.engine.scripted import ScriptedEngine, ScriptedReply, tokenize


def test_tokenize_keeps_newline_runs_apart():
    assert tokenize("a b\n\nc") == ["a", " b", "\n\n", "c"]
    assert "".join(tokenize(" x  y\nz ")) == " x  y\nz "


def test_reply_ends_with_eos_and_reports_tokens():
    engine = ScriptedEngine("The answer is 4.")
    generation = engine.generate("Q", n=2, params=SamplingParams(max_tokens=50))
    assert generation.texts == ["The answer is 4."] * 2
    assert [c.finish_reason for c in generation.completions] == ["eos", "eos"]
    assert generation.completion_tokens == 8
    assert generation.prompt_tokens_decoded == 1  # the shared prompt, once
    assert [c.seed for c in generation.completions] == [0, 1]


def test_max_tokens_and_stop_strings():
    engine = ScriptedEngine("step one\n\nstep two")
    cut = engine.generate("Q", params=SamplingParams(max_tokens=1)).completions[0]
    assert (cut.text, cut.finish_reason, len(cut.tokens)) == ("step", "length", 1)
    step = engine.generate("Q", params=SamplingParams(stop=("\n\n",))).completions[0]
    assert (step.text, step.finish_reason, len(step.tokens)) == ("step one", "stop", 3)


def test_responder_sees_prefix_index_and_seed():
    engine = ScriptedEngine(lambda r: f"{r.prefix.count('x')}-{r.index}-{r.seed}")
    generation = engine.continue_prefixes("Q", ["", "x ", "x x "], seeds=[7, 8, 9])
    assert generation.texts == ["0-0-7", "1-1-8", "2-2-9"]
    assert [c.prefix for c in generation.completions] == ["", "x ", "x x "]
    assert [r.call for r in engine.requests] == [0, 0, 0]


def test_reply_list_cycles():
    engine = ScriptedEngine(["a", "b"])
    assert engine.generate("Q", n=3).texts == ["a", "b", "a"]


def test_logprobs_and_derived_statistics():
    engine = ScriptedEngine(lambda r: ScriptedReply("a b c", logprob=[-0.1, -2.0]))
    tokens = engine.generate("Q", params=SamplingParams(top_logprobs=3)).completions[0].tokens
    assert [t.logprob for t in tokens] == [-0.1, -2.0, -2.0]
    assert len(tokens[0].top) == 3 and tokens[0].top[0] == ("a", -0.1)
    # a peaked distribution is more self-certain and has less entropy
    assert tokens[0].self_certainty > tokens[1].self_certainty > 0
    assert tokens[0].entropy < tokens[1].entropy
    total = math.exp(-0.1) + 99 * math.exp(tokens[0].top[1][1])
    assert total == pytest.approx(1.0)


def test_on_token_returning_true_stops_that_sequence_only():
    engine = ScriptedEngine("one two three four")
    seen: list[tuple[int, str]] = []

    def hook(index, token):
        seen.append((index, token.text))
        return index == 1 and len([s for s in seen if s[0] == 1]) == 2

    generation = engine.generate("Q", n=2, on_token=hook)
    first, second = generation.completions
    assert (first.finish_reason, len(first.tokens)) == ("eos", 4)
    assert (second.finish_reason, second.text) == ("stopped", "one two")
    assert seen[:2] == [(0, "one"), (1, "one")]  # sequences advance in lockstep


def test_cancel_raises_with_partial_generation():
    cancel = threading.Event()
    engine = ScriptedEngine("a b c d e f")

    def hook(index, token):
        if token.text.strip() == "b":
            cancel.set()

    with pytest.raises(GenerationCancelled) as raised:
        engine.generate("Q", n=2, on_token=hook, cancel=cancel)
    partial = raised.value.partial
    assert [c.finish_reason for c in partial.completions] == ["cancelled", "cancelled"]
    assert [c.text for c in partial.completions] == ["a b", "a b"]
    assert partial.completion_tokens == 4


def test_next_token_logprobs_answers_yes_no_and_uniform_otherwise():
    engine = ScriptedEngine("x", yes_probability=lambda prompt: 0.8 if "good" in prompt else 0.1)
    yes_no = engine.next_token_logprobs("a good one", ["Yes", "No"])
    assert math.exp(yes_no["Yes"]) == pytest.approx(0.8)
    assert math.exp(yes_no["No"]) == pytest.approx(0.2)
    digits = engine.next_token_logprobs("bad", ["0", "1"])
    assert digits == {"0": pytest.approx(math.log(0.5)), "1": pytest.approx(math.log(0.5))}
    assert engine.judged == ["a good one", "bad"]


def test_chat_prompts_are_formatted_and_calls_recorded():
    engine = ScriptedEngine("ok")
    engine.generate([{"role": "user", "content": "hi"}], params=SamplingParams(temperature=0))
    assert engine.calls[0].prompt == "<|user|>\nhi\n<|assistant|>\n"
    assert engine.calls[0].params.temperature == 0
    assert engine.score("Q", "a b") and len(engine.score("Q", "a b")) == 2


def test_zero_max_tokens_generates_nothing():
    engine = ScriptedEngine("a b")
    completion = engine.generate("Q", params=SamplingParams(max_tokens=0)).completions[0]
    assert (completion.tokens, completion.finish_reason) == ([], "length")
