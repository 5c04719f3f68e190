"""All compute counted: generated tokens of every model call (sampling and model verdicts),
prompt tokens decoded and served from the cache, the budget over all of it, and where it is
shown (ledger, `lab solve --json`, the eval table, the app). Exact counts on the scripted
engine, whose sampling calls decode the prompt once and whose verdicts decode all of theirs."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from test_solve import scripted, solve  # noqa: F401  (the fixture)
from test_strategy_support import PROBLEM, by_seed, run, solution

from lab.engine.base import PromptReads
from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.evaluation import scaling_figure, summarize, table_text
from lab.evaluation.report import table_cells
from lab.execution import RunRequest, execute
from lab.store import schema
from lab.store.ledger import Ledger
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.registry import STRATEGIES, run_strategy
from lab.trace import Compute, NodeKind, Trace

TEN = solution("42")  # ten scripted tokens: "6 * 7 = 42\n\nThe answer is 42."
OTHER_TEN = solution("42", "7 * 6 = 42")  # another text (verdicts are cached by text)


def two_chains(**options: object) -> ScriptedEngine:
    """Two different ten-token chains (seeds 0 and 1), each verdict P(yes) = 0.7."""
    return ScriptedEngine(by_seed({0: TEN, 1: OTHER_TEN}, default=TEN), yes_probability=0.7,
                          **options)


def verdict_prompts(engine: ScriptedEngine) -> list[int]:
    """The tokens of each prompt the engine was asked a yes/no (or grade) question with."""
    return [engine.count_tokens(prompt) for prompt in engine.judged]


def sampling_prompt(engine: ScriptedEngine, call: int = 0) -> int:
    return engine.count_tokens(engine.calls[call].prompt)


def test_best_of_n_counts_its_self_verify_verdicts_exactly():
    engine = two_chains()
    trace = run("best-of-n", engine, n=2, scorer="self-verify")
    c, prompt = trace.compute, sampling_prompt(engine)
    assert (c.generated_tokens, c.verdict_tokens, c.all_generated) == (20, 2, 22)
    assert c.generated_by == {"chain": 20, "self-verify": 2}
    assert c.engine_calls == 3  # one sampling call, two yes/no reads
    # the sampling call decodes its prompt once for both chains; each verdict its whole prompt
    assert c.prompt_tokens == prompt + sum(verdict_prompts(engine))
    assert c.cached_prompt_tokens == prompt
    assert c.all_decoded == c.prompt_tokens + 22


def test_self_refine_counts_critiques_revisions_and_verdicts():
    def replies(request: ScriptedRequest) -> str:
        return {1: "The second step is wrong.", 2: OTHER_TEN}.get(request.call, TEN)

    engine = ScriptedEngine(replies, yes_probability=0.9)
    trace = run("self-refine", engine, rounds=1)
    c = trace.compute
    assert c.generated_by == {"chain": 10, "critique": 5, "revision": 10, "self-verify": 2}
    assert c.generated_tokens == 25 and c.verdict_tokens == 2
    assert c.engine_calls == 5  # draft, critique, revision and two verdicts
    sampled = sum(sampling_prompt(engine, i) for i in range(3))
    assert c.prompt_tokens == sampled + sum(verdict_prompts(engine))
    assert c.cached_prompt_tokens == 0  # one sequence a call, nothing shared


def test_a_judge_models_verdicts_are_counted_under_its_name():
    judge = ScriptedEngine("x", next_token=lambda prompt, grades: {
        g: (0.0 if g == "9" else -30.0) for g in grades})
    engine = ScriptedEngine(TEN)
    trace = run_strategy("rejection", PROBLEM, engine, {"verifier": "judge", "n": 3},
                         judge=judge)
    c = trace.compute
    assert trace.final_answer == "42" and trace.reason == "sample 1 accepted by judge"
    assert c.generated_by == {"chain": 10, "judge": 1} and c.verdict_tokens == 1
    assert not engine.judged and len(judge.judged) == 1 and c.engine_calls == 2
    assert c.prompt_tokens == sampling_prompt(engine) + sum(verdict_prompts(judge))


def test_the_budget_caps_verdicts_too():
    # 24 tokens: two chains of at most 11 (10 used) and one verdict token each
    engine = two_chains()
    trace = run("best-of-n", engine, budget=24, n=2, scorer="self-verify")
    assert engine.calls[0].params.max_tokens == 11
    assert trace.compute.all_generated == 22 <= 24 and trace.final_answer == "42"
    # 20 tokens: a verdict each leaves 9 a chain: cut before the answer, so nothing is ranked
    tight = two_chains()
    cut = run("best-of-n", tight, budget=20, n=2, scorer="self-verify")
    assert tight.calls[0].params.max_tokens == 9 and cut.compute.all_generated <= 20


def test_a_verdict_the_budget_cannot_pay_for_is_refused():
    engine = ScriptedEngine(TEN)
    ctx = RunContext(Trace("test", PROBLEM, budget=10), engine)
    [chain] = ctx.sample("Q", [ctx.add_node(None, NodeKind.PROMPT)],
                         ctx_sampling(max_tokens=10))
    assert ctx.remaining == 0
    with pytest.raises(BudgetExhausted):
        ctx.score(chain, "self-verify")
    assert not engine.judged and ctx.trace.compute.verdict_tokens == 0
    assert ctx.score(chain, "mean-logprob") == pytest.approx(-0.5)  # reads tokens: free


def ctx_sampling(max_tokens: int):  # noqa: ANN201 - a SamplingParams
    from lab.engine.base import SamplingParams

    return SamplingParams(temperature=0.0, max_tokens=max_tokens)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_accounts_every_generated_token(name: str):
    engine = ScriptedEngine(by_seed({}, default=TEN), yes_probability=0.6)
    trace = run_strategy(name, PROBLEM, engine, {})
    c = trace.compute
    assert sum(c.generated_by.values()) == c.all_generated
    assert sum(len(n.tokens) for n in trace.nodes) == c.generated_tokens
    assert c.verdict_tokens == len(engine.judged)
    assert c.engine_calls == len(engine.calls) + len(engine.judged)


def test_all_compute_round_trips_through_the_ledger(tmp_path: Path):
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        outcome = execute(RunRequest("best-of-n", PROBLEM, {"n": 2, "scorer": "self-verify"}),
                          two_chains(), ledger)
        assert outcome.run_id is not None
        stored = ledger.load_trace(outcome.run_id)
        summary = ledger.get_run(outcome.run_id)
    assert stored.compute == outcome.trace.compute
    assert stored.compute.generated_by == {"chain": 20, "self-verify": 2}
    assert (summary.verdict_tokens, summary.cached_prompt_tokens) == (
        2, outcome.trace.compute.cached_prompt_tokens)


def test_a_version_1_ledger_gains_the_compute_columns(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url) as ledger:
        run_id = execute(RunRequest("cot", PROBLEM), ScriptedEngine(TEN), ledger).run_id
    engine = create_engine(url)
    with engine.begin() as conn:  # back to version 1: the columns it did not have
        for column in ("cached_prompt_tokens", "verdict_tokens", "generated_by"):
            conn.execute(text(f"ALTER TABLE runs DROP COLUMN {column}"))
        conn.execute(text("ALTER TABLE experiments DROP COLUMN shipped"))  # version 3's
        conn.execute(text("UPDATE ledger_meta SET value = '1' WHERE key = 'schema_version'"))
    engine.dispose()
    with Ledger(url) as upgraded:
        assert run_id is not None
        old = upgraded.load_trace(run_id)
        assert (old.compute.cached_prompt_tokens, old.compute.verdict_tokens) == (0, 0)
        assert old.compute.generated_by == {} and old.compute.generated_tokens == 10
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SELECT value FROM ledger_meta")).scalar()
    engine.dispose()
    assert version == str(schema.SCHEMA_VERSION) == "3"


def test_compute_json_keeps_old_traces_readable():
    old = Compute.from_dict({"prompt_tokens": 5, "generated_tokens": 7, "engine_calls": 1,
                             "wall_s": 0.5})
    assert old == Compute(5, 7, 1, 0.5)
    new = Compute(5, 7, 2, 0.5, cached_prompt_tokens=3, verdict_tokens=1,
                  generated_by={"chain": 7, "self-verify": 1})
    data = new.to_dict()
    assert (data["all_generated_tokens"], data["all_decoded_tokens"]) == (8, 13)
    assert Compute.from_dict(json.loads(json.dumps(data))) == new


def test_lab_solve_json_reports_all_compute(scripted: ScriptedEngine):  # noqa: F811
    code, out, err = solve("-s", "best-of-n", "-p", "n=2", "-p", "scorer=self-verify",
                           "--problem", "What is 6 * 7?", "--json")
    assert code == 0, err
    compute = json.loads(out)["compute"]
    assert compute["verdict_tokens"] == 2
    assert compute["generated_by"]["self-verify"] == 2
    assert compute["all_generated_tokens"] == compute["generated_tokens"] + 2
    assert compute["cached_prompt_tokens"] > 0
    assert compute["all_decoded_tokens"] == compute["prompt_tokens"] + compute[
        "all_generated_tokens"]
    code, out, err = solve("-s", "best-of-n", "-p", "n=2", "-p", "scorer=self-verify",
                           "--problem", "What is 6 * 7?")
    assert code == 0, err
    assert "sampled + 2 by verdicts; chain " in out and "self-verify 2)" in out
    assert "prompt tokens decoded + " in out and " from the cache, 3 engine calls" in out


def test_the_eval_table_shows_all_compute(tmp_path: Path):
    traces = []
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        for problem_id in ("a", "b"):
            outcome = execute(RunRequest("best-of-n", replace(PROBLEM, id=problem_id),
                                         {"n": 2, "scorer": "self-verify"}, experiment="exp"),
                              two_chains(), ledger)
            traces.append(outcome.trace)
        [row] = summarize(ledger, "exp")
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    assert row.tokens == 22 and row.verdict_tokens == 2
    assert row.prompt_tokens == mean([t.compute.prompt_tokens for t in traces])
    assert row.cached_tokens == mean([t.compute.cached_prompt_tokens for t in traces])
    assert row.decoded == row.prompt_tokens + 22
    header, [cells] = table_cells([row])
    shown = dict(zip(header, cells, strict=True))
    assert (shown["tokens/problem"], shown["prompt/problem"], shown["cached/problem"]) == (
        "22", f"{row.prompt_tokens:.0f}", f"{row.cached_tokens:.0f}")
    assert "prompt/problem" in table_text([row])
    assert row.to_dict()["prompt_tokens"] == row.prompt_tokens
    decoded = scaling_figure([row], x="decoded")
    assert list(decoded.data[0].x) == [row.decoded]
    assert "decoded" in decoded.layout.xaxis.title.text
    assert list(scaling_figure([row]).data[0].x) == [22]


def test_the_app_says_what_the_generated_tokens_were_spent_on():
    from lab.ui.render import generated_help

    trace = run("best-of-n", two_chains(), n=2, scorer="self-verify")
    assert generated_help(trace) == (
        "every generated token, what the budget caps: sampled 20 + model verdicts 2 (one per "
        "yes/no or grade read); by call: chain 20, self-verify 2")


def test_prompt_reads_are_per_thread_differences():
    engine = ScriptedEngine("x")
    before = engine.prompt_reads()
    engine.next_token_logprobs("a b c", ["Yes", "No"])
    assert engine.prompt_reads() - before == PromptReads(1, 3, 3)


@pytest.mark.model
def test_the_real_engine_reports_what_a_verdict_read_from_the_cache(smollm_engine):
    question: Sequence[dict[str, str]] = [{"role": "user", "content": "What is 12 plus 7?"}]
    prompt = smollm_engine.format_prompt(question)
    smollm_engine.next_token_logprobs(prompt, ["Yes", "No"])
    before = smollm_engine.prompt_reads()
    smollm_engine.next_token_logprobs(prompt + " Is it 19?", ["Yes", "No"])
    reads = smollm_engine.prompt_reads() - before
    assert reads.calls == 1 and 0 < reads.decoded < reads.tokens  # the question was cached
    assert not math.isnan(reads.tokens)
