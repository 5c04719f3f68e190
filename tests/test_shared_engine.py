"""Runs of different sessions decoded together (lab.engine.shared), on the real SmolLM2-135M:
each lane's request joins the shared batch at the next step, and gives what it gives alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.engine.base import EngineError, Generation, GenerationCancelled, SamplingParams
from lab.engine.llamacpp import LlamaCppEngine
from lab.engine.shared import SharedDecoder, shared_lanes

SUM = [{"role": "user", "content": "What is 12 times 13? Think step by step."}]
SKY = [{"role": "user", "content": "Name three colours and say why the sky is blue."}]
SAMPLED = SamplingParams(temperature=0.8, max_tokens=48, seed=3)
GREEDY = SamplingParams(temperature=0, max_tokens=48)


@pytest.fixture(scope="module")
def engine(smollm_path: Path):
    loaded = LlamaCppEngine(smollm_path)
    yield loaded
    loaded.close()


@pytest.fixture
def decoder(engine: LlamaCppEngine):
    shared = SharedDecoder(engine, 2)
    yield shared
    shared.close()


def texts(generation: Generation) -> list[str]:
    return [c.text for c in generation.completions]


def in_threads(*calls: Callable[[], Generation]) -> list[Generation | BaseException]:
    """Run each call in a thread of its own, all at once; their results (or errors)."""
    results: list[Generation | BaseException] = [RuntimeError("did not run")] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - compared by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_two_lanes_decode_in_the_same_steps_and_sample_what_they_would_alone(
        engine: LlamaCppEngine, decoder: SharedDecoder):
    alone_sum = engine.generate(SUM, n=4, params=SAMPLED)
    alone_sky = engine.generate(SKY, n=3, params=GREEDY)
    together = in_threads(lambda: decoder.lanes[0].generate(SUM, n=4, params=SAMPLED),
                          lambda: decoder.lanes[1].generate(SKY, n=3, params=GREEDY))
    assert all(isinstance(g, Generation) for g in together), together
    assert decoder.peak_sequences == 7  # the 4 and the 3 sequences in one batch
    assert texts(together[0]) == texts(alone_sum)  # type: ignore[arg-type]
    assert texts(together[1]) == texts(alone_sky)  # type: ignore[arg-type]
    assert [c.seed for c in together[0].completions] == [3, 4, 5, 6]  # type: ignore[union-attr]


def test_a_request_joins_a_running_one_at_its_next_step(engine: LlamaCppEngine,
                                                        decoder: SharedDecoder):
    alone = engine.generate(SKY, n=1, params=GREEDY)
    tenth_token = threading.Event()
    seen = []

    def count(index: int, token: object) -> None:
        seen.append(token)
        if len(seen) == 10:
            tenth_token.set()

    def late() -> Generation:
        tenth_token.wait(60)
        return decoder.lanes[1].generate(SUM, n=2, params=SAMPLED)

    first, second = in_threads(
        lambda: decoder.lanes[0].generate(SKY, n=1, params=GREEDY, on_token=count), late)
    assert isinstance(first, Generation) and isinstance(second, Generation)
    assert texts(first) == texts(alone)
    assert decoder.peak_sequences == 3  # the late request's two beside the running one
    assert len(second.completions) == 2


def test_a_lane_extends_its_own_cached_sequences(decoder: SharedDecoder):
    lane = decoder.lanes[0]
    first = lane.generate(SUM, n=1, params=GREEDY.with_(max_tokens=12))
    more = lane.continue_prefixes(SUM, [first.completions[0].text], GREEDY.with_(max_tokens=4))
    # only what the first request sampled last is decoded again, not the prompt
    assert more.prompt_tokens_decoded <= 2
    assert more.prompt_tokens > 20


def test_cancel_and_errors_stay_in_their_lane(engine: LlamaCppEngine, decoder: SharedDecoder):
    alone = engine.generate(SKY, n=2, params=GREEDY)
    cancel = threading.Event()

    def cancel_after_five(index: int, token: object) -> None:
        if index == 0 and len(cancel_after_five.seen) >= 5:  # type: ignore[attr-defined]
            cancel.set()
        cancel_after_five.seen.append(token)  # type: ignore[attr-defined]

    cancel_after_five.seen = []  # type: ignore[attr-defined]

    def failing(index: int, token: object) -> None:
        raise ValueError("the caller's callback failed")

    cancelled, kept, failed = in_threads(
        lambda: decoder.lanes[0].generate(SUM, n=2, params=SAMPLED, on_token=cancel_after_five,
                                          cancel=cancel),
        lambda: decoder.lanes[1].generate(SKY, n=2, params=GREEDY),
        lambda: decoder.lanes[1].generate(SUM, n=1, params=GREEDY, on_token=failing))
    assert isinstance(cancelled, GenerationCancelled)
    assert 0 < cancelled.partial.completion_tokens < 2 * SAMPLED.max_tokens
    assert isinstance(kept, Generation) and texts(kept) == texts(alone)
    assert isinstance(failed, ValueError)
    too_long = SamplingParams(max_tokens=decoder.lanes[0].n_ctx)
    with pytest.raises(EngineError, match="does not fit the context"):
        decoder.lanes[0].generate(SUM, params=too_long)
    assert texts(decoder.lanes[0].generate(SKY, n=2, params=GREEDY)) == texts(alone)


def test_scoring_through_a_lane_is_the_engines(engine: LlamaCppEngine, decoder: SharedDecoder):
    expected = [t.logprob for t in engine.score(SUM, "It is 156.")]
    assert [t.logprob for t in decoder.lanes[1].score(SUM, "It is 156.")] == expected
    reads = decoder.lanes[1].prompt_reads()
    assert reads.calls == 1 and reads.tokens > 0
    yes_no = decoder.lanes[0].next_token_logprobs(SUM, ["Yes", "No"])
    assert yes_no == engine.next_token_logprobs(SUM, ["Yes", "No"])


def test_lanes_are_limited_by_llamas_sequence_ids(engine: LlamaCppEngine):
    assert shared_lanes(engine, 1) == [engine]
    with pytest.raises(EngineError, match="at most 4 lanes"):
        SharedDecoder(engine, 5)


def test_a_closed_decoder_refuses_at_once(engine: LlamaCppEngine):
    closed = SharedDecoder(engine, 2)
    closed.close()
    with pytest.raises(EngineError, match="was closed"):
        closed.lanes[0].generate(SUM, params=GREEDY)
    with pytest.raises(EngineError, match="was closed"):
        closed.lanes[1].score(SUM, "It is 156.")
