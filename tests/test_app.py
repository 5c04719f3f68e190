"""AppTest tests of every page, on a scripted engine (one Playground test on the real model)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from test_app_support import finish, open_app, set_param, texts

from lab import config
from lab.engine.scripted import ScriptedEngine
from lab.store.ledger import Ledger
from lab.ui import scaling, state


def run_playground(strategy: str, **params: object) -> tuple[object, object]:
    at = open_app()
    at.selectbox(key="pg.strategy").set_value(strategy).run()
    for name, value in params.items():
        set_param(at, strategy, name, value)
    at.button(key="pg.run").click().run()
    assert not at.error, texts(at.error)
    return at, finish(at, "pg.batch")


# -- Playground -----------------------------------------------------------------------------
def test_sidebar_shows_model_and_ledger(scripted: ScriptedEngine):
    at = open_app()
    sidebar = " ".join(texts(at.sidebar.markdown) + texts(at.sidebar.caption)
                       + texts(at.sidebar.code))
    assert "Model" in sidebar and "scripted" in sidebar
    assert config.database_url() in sidebar


def test_self_consistency_streams_chains_votes_and_stores_the_run(scripted: ScriptedEngine):
    at, batch = run_playground("self-consistency", n=3, max_tokens=32)
    markdown = texts(at.markdown)
    assert sum(m.startswith("**Chain ") for m in markdown) == 3
    assert "##### Votes" in markdown and len(at.get("plotly_chart")) == 1
    assert any("Answer: 18" in s for s in texts(at.success))  # 2 of 3 chains say 18: correct
    run = batch.runs[0]
    assert run.run_id is not None and run.trace.correct is True
    stored = Ledger(config.database_url()).get_run(run.run_id)
    assert stored.status == "complete" and stored.correct is True
    assert any(f"run #{run.run_id}" in c for c in texts(at.caption))


def test_best_of_n_shows_candidates_with_scores_and_reasons(scripted: ScriptedEngine):
    at, _ = run_playground("best-of-n", n=2, max_tokens=32)
    [table] = at.dataframe
    frame = table.value
    assert list(frame["candidate"]) == ["Chain 1", "Chain 2"]
    assert "mean-logprob" in frame.columns
    assert "★ chosen" in list(frame["decision"])
    assert any("ranked 1 by mean-logprob" in why for why in frame["why"])


def test_beam_search_draws_the_tree_and_shows_a_node(scripted: ScriptedEngine):
    at, _ = run_playground("beam-search", width=2, branch=1, depth=2, max_tokens=16)
    assert "##### Search tree" in texts(at.markdown)
    assert len(at.get("plotly_chart")) == 1
    node_picker = at.selectbox(key="pg-tree-node")
    assert "★" in node_picker.format_func(node_picker.value)  # the chosen path's last step
    assert any("So the total is 18." in c for c in texts(at.code))


def test_stop_cancels_and_the_run_is_stored_interrupted(scripted: ScriptedEngine):
    scripted.delay_s = 0.3  # ~10 tokens a chain, 3 s: Stop is pressed after the first tokens
    at = open_app()
    set_param(at, "self-consistency", "n", 2)
    at.button(key="pg.run").click().run()
    batch = at.session_state["pg.batch"]
    at.button(key="pg-stop").click().run()
    assert batch.cancel.is_set()
    finish(at, "pg.batch")
    assert any("Stopped" in w for w in texts(at.warning))
    run = batch.runs[0]
    assert Ledger(config.database_url()).get_run(run.run_id).status == "interrupted"


def test_run_too_large_for_the_context_is_refused(scripted: ScriptedEngine):
    scripted._n_ctx = 100
    at = open_app()
    set_param(at, "self-consistency", "max_tokens", 512)
    at.button(key="pg.run").click().run()
    assert any("cannot start" in e and "context holds 100" in e for e in texts(at.error))
    assert "pg.batch" not in at.session_state


def test_own_question_with_answer(scripted: ScriptedEngine):
    at = open_app()
    at.radio(key="pg.source").set_value("Your own question").run()
    at.text_area(key="pg.question").set_value("What is 9 + 9?")
    at.text_input(key="pg.gold").set_value("18").run()
    at.selectbox(key="pg.strategy").set_value("cot").run()
    at.button(key="pg.run").click().run()
    batch = finish(at, "pg.batch")
    assert batch.runs[0].trace.problem.question == "What is 9 + 9?"
    assert batch.runs[0].trace.correct is True


def test_model_not_downloaded_shows_the_pull_command(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("LAB_MODEL", "smollm2-135m")
    at = open_app()
    at.button(key="pg.run").click().run()
    errors = " ".join(texts(at.error))
    assert "not downloaded" in errors and "lab models pull smollm2-135m" in errors
    assert any(b.label == "Download smollm2-135m" for b in at.button)


def test_model_that_fails_to_load_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "broken.gguf").write_bytes(b"not a model at all")
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("LAB_MODEL", "broken")
    at = open_app()
    at.button(key="pg.run").click().run()
    assert any("broken" in e and "not a GGUF file" in e for e in texts(at.error))


def test_locked_database_is_reported_and_the_run_still_shown(scripted: ScriptedEngine,
                                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(state, "LEDGER_BUSY_S", 0.2)
    Ledger(config.database_url()).close()  # create the schema first
    path = config.database_url().removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        at, batch = run_playground("cot", max_tokens=16)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert any("could not be saved" in w and "locked" in w for w in texts(at.warning))
    assert batch.runs[0].trace.final_answer == "18"


def test_real_model_self_consistency(smollm_engine):
    state.use_engine(smollm_engine)
    try:
        at, batch = run_playground("self-consistency", n=2, max_tokens=12)
    finally:
        state.use_engine(None)
    trace = batch.runs[0].trace
    assert trace.status == "complete" and trace.compute.generated_tokens > 0
    assert sum(m.startswith("**Chain ") for m in texts(at.markdown)) == 2


# -- Compare, History, Scaling, Learn ----------------------------------------------------------
def test_compare_runs_strategies_in_columns_with_a_summary(scripted: ScriptedEngine):
    at = open_app("compare")
    at.multiselect(key="cmp.strategies").set_value(["cot", "best-of-n"]).run()
    set_param(at, "best-of-n", "n", 2, prefix="cmp")
    at.button(key="cmp.run").click().run()
    finish(at, "cmp.batch")
    assert {"cot", "best-of-n"} <= set(texts(at.subheader))
    summary = at.dataframe[-1].value
    assert list(summary["strategy"]) == ["cot", "best-of-n"]
    assert all(summary["generated tokens"] > 0) and set(summary["status"]) == {"complete"}


def test_history_lists_reopens_exports_and_deletes(scripted: ScriptedEngine):
    at, batch = run_playground("self-consistency", n=2, max_tokens=16)
    run_id = batch.runs[0].run_id
    at.switch_page("pages/history.py").run()
    assert not at.exception
    assert list(at.dataframe[0].value["run"]) == [run_id]
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Export JSONL", "Export CSV"]
    at.selectbox(key="hist.open").set_value(run_id).run()
    assert sum(m.startswith("**Chain ") for m in texts(at.markdown)) == 2
    at.selectbox(key="hist.strategy").set_value("self-consistency").run()
    assert len(at.dataframe[0].value) == 1
    at.button(key="hist.delete").click().run()
    assert Ledger(config.database_url()).list_runs() == []


def test_a_dataset_file_offers_a_slice_of_its_problems(scripted: ScriptedEngine,
                                                         tmp_path: Path):
    data = tmp_path / "many.jsonl"
    data.write_text("".join(f'{{"question": "What is {i} + 1?", "answer": "{i + 1}"}}\n'
                            for i in range(1, 9)))
    at = open_app()
    at.radio(key="pg.source").set_value("Dataset file").run()
    at.text_input(key="pg.file").set_value(str(data)).run()
    at.text_input(key="pg.span").set_value("5-7").run()
    [picker] = [s for s in at.selectbox if s.label == "Problem"]
    assert [option.split(" ")[0] for option in picker.options] == ["#5", "#6", "#7"]
    assert "What is 5 + 1?" in texts(at.markdown)
    at.text_input(key="pg.span").set_value("7-5").run()
    assert any("a slice is FROM-TO" in e for e in texts(at.error))


def test_scaling_sweeps_in_the_background_and_draws_accuracy(scripted: ScriptedEngine):
    at = open_app("scaling")
    at.text_input(key="sc.span").set_value("3-10")
    at.number_input(key="sc.count").set_value(2)
    at.text_input(key="sc.ladder").set_value("1, 2")
    at.text_input(key="sc.experiment").set_value("sweep-test").run()
    at.button(key="sc.run").click().run()
    job = scaling.jobs()["sweep-test"]
    assert job.wait(60) and job.error is None
    assert len(job.result.run_ids) == len(job.cells) == 4  # 2 problems x (cot, sc n=2)
    at.run()
    assert any("sweep-test" in s and "done" in s for s in texts(at.success))
    assert len(at.get("plotly_chart")) == 1
    table = next(d.value for d in at.dataframe if "accuracy [95% CI]" in d.value.columns)
    assert {"cot", "self-consistency"} == set(table["strategy"])
    [ran] = [c for c in texts(at.caption) if c.startswith("Ran on problems ")]
    assert "of arith (2)" in ran  # the sample, drawn from problems 3-10, named by position
    positions = ran.removeprefix("Ran on problems ").split(" of ")[0].replace("-", ", ")
    assert all(3 <= int(n) <= 10 for n in positions.split(", "))
    paired = next(d.value for d in at.dataframe if "minus baseline [95% CI]" in d.value.columns)
    assert list(paired["strategy"]) == ["self-consistency"] * 2  # against greedy cot
    assert "generated tokens" in at.get("plotly_chart")[0].proto.spec
    at.radio(key="sc.x").set_value("decoded").run()
    assert "prompts included" in at.get("plotly_chart")[0].proto.spec
    # run again: every cell is found stored, nothing runs twice
    at.button(key="sc.run").click().run()
    again = scaling.jobs()["sweep-test"]
    assert again is not job and again.wait(60)
    assert again.result.stored == 4 and again.result.run_ids == []


def test_learn_opens_the_playground_with_a_preset(scripted: ScriptedEngine):
    at = open_app("learn")
    assert len(at.subheader) >= 5
    at.button(key="learn.1").click().run()  # "Sample many, vote"
    assert not at.exception
    assert at.selectbox(key="pg.strategy").value == "self-consistency"
    assert at.number_input(key="pg.self-consistency.n").value == 8


def test_a_second_session_waits_for_the_model(scripted: ScriptedEngine):
    scripted.delay_s = 0.3  # the first run outlasts the live view's wait for first tokens
    first, second = open_app(), open_app()
    for at in (first, second):
        set_param(at, "self-consistency", "n", 2)
    first.button(key="pg.run").click().run()
    second.button(key="pg.run").click().run()
    waiting = second.session_state["pg.batch"].runs[0]
    for _ in range(100):
        if waiting.phase == "waiting":
            break
        time.sleep(0.05)
    second.run()
    assert any("Waiting for the model" in i for i in texts(second.info))
    scripted.delay_s = 0.01
    first.button(key="pg-stop").click().run()
    finish(first, "pg.batch")
    finish(second, "pg.batch")
    assert waiting.trace.status == "complete"


def test_problem_from_a_dataset_file(scripted: ScriptedEngine, tmp_path: Path):
    data = tmp_path / "mine.jsonl"
    data.write_text('{"question": "What is 10 + 8?", "answer": "18"}\n'
                    '{"question": "What is 2 + 2?", "answer": "4"}\n')
    at = open_app()
    at.radio(key="pg.source").set_value("Dataset file").run()
    at.text_input(key="pg.file").set_value(str(data)).run()
    assert not at.error, texts(at.error)
    assert "What is 10 + 8?" in texts(at.markdown)
    at.selectbox(key="pg.strategy").set_value("cot").run()
    at.button(key="pg.run").click().run()
    batch = finish(at, "pg.batch")
    assert batch.runs[0].trace.problem.gold == "18" and batch.runs[0].trace.correct is True
