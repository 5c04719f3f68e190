"""The gallery: experiments exported from a ledger, imported into another as read-only,
shipped experiments, round-tripping every run exactly; the file shipped in data/ imports."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_store_support import BACKENDS, backend_url, sample_problem, sample_trace

from lab import config
from lab.cli import main
from lab.engine.scripted import ScriptedEngine
from lab.execution import RunRequest, execute
from lab.store import Ledger, RunSummary
from lab.store.errors import ReadOnlyRun
from lab.store.gallery import (
    GalleryError,
    ensure_gallery,
    export_gallery,
    gallery_header,
    import_gallery,
)
from lab.trace import TraceStatus

SHIPPED = config.REPO_ROOT / "data" / "gallery.jsonl.gz"


def ledger_at(path: Path) -> Ledger:
    return Ledger(f"sqlite:///{path}")


def fill(ledger: Ledger) -> None:
    """Hand-built traces of every node kind (tokens, top alternatives, -inf scores, a failed
    run) and real strategy runs on a scripted engine, in two experiments and none."""
    for seed in range(3):
        trace = sample_trace(seed, chains=2)
        run_id = ledger.start_run(trace, experiment="sweep-a")
        trace.status = TraceStatus.COMPLETE if seed else TraceStatus.FAILED
        ledger.finish_run(run_id, trace)
    engine = ScriptedEngine(lambda r: f"Step.\n\nThe answer is {3 + r.seed % 2}.")
    for strategy, params in (("cot", {}), ("self-consistency", {"n": 4})):
        execute(RunRequest(strategy, sample_problem(1), params, experiment="sweep-b"), engine,
                ledger)
    execute(RunRequest("cot", sample_problem(2)), engine, ledger)  # the user's, no experiment


def comparable(summary: RunSummary) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(summary).items() if k not in ("id", "shipped")}


def test_export_then_import_round_trips_every_run_exactly(tmp_path: Path):
    out = tmp_path / "gallery.jsonl.gz"
    with ledger_at(tmp_path / "source.db") as source:
        fill(source)
        assert export_gallery(source, ["sweep-a", "sweep-b"], out, note="test") == 5
        originals = source.list_runs(experiment="sweep-a") + source.list_runs(
            experiment="sweep-b")
        traces = {r.id: source.load_trace(r.id).to_dict() for r in originals}
    with ledger_at(tmp_path / "empty.db") as target:
        result = import_gallery(target, out)
        assert (result.imported, result.runs, result.experiments) == (
            True, 5, ["sweep-a", "sweep-b"])
        imported = target.list_runs()
        assert all(r.shipped for r in imported)
        by_content = sorted(imported, key=lambda r: (r.experiment, r.created, r.strategy))
        for original, copy in zip(sorted(originals, key=lambda r: (r.experiment, r.created,
                                                                   r.strategy)),
                                  by_content, strict=True):
            assert comparable(copy) == comparable(original)
            assert target.load_trace(copy.id).to_dict() == traces[original.id]
    assert gallery_header(out)["runs"] == 5


def test_gallery_runs_are_read_only_and_apart_from_the_users(tmp_path: Path):
    out = tmp_path / "gallery.jsonl.gz"
    with ledger_at(tmp_path / "source.db") as source:
        fill(source)
        export_gallery(source, ["sweep-b"], out)
    with ledger_at(tmp_path / "mine.db") as mine:
        own = mine.start_run(sample_trace(7), experiment="my-sweep")
        import_gallery(mine, out)
        gallery = mine.list_runs(shipped=True)
        assert {r.experiment for r in gallery} == {"sweep-b"}
        assert [r.id for r in mine.list_runs(shipped=False)] == [own]
        with pytest.raises(ReadOnlyRun, match="gallery"):
            mine.delete_run(gallery[0].id)
        with pytest.raises(ReadOnlyRun, match="another name"):
            mine.start_run(sample_trace(8), experiment="sweep-b")
        assert len(mine.list_runs(shipped=True)) == len(gallery)
        mine.delete_run(own)  # the user's own runs still delete
        assert mine.experiments() == {"my-sweep": False, "sweep-b": True}


def test_import_happens_once_per_file_and_a_new_file_replaces_the_old(tmp_path: Path):
    first, second = tmp_path / "one.jsonl.gz", tmp_path / "two.jsonl.gz"
    with ledger_at(tmp_path / "source.db") as source:
        fill(source)
        export_gallery(source, ["sweep-a"], first)
        export_gallery(source, ["sweep-b"], second)
    with ledger_at(tmp_path / "app.db") as app:
        assert ensure_gallery(app, None) is None
        assert ensure_gallery(app, tmp_path / "absent.jsonl.gz") is None
        assert ensure_gallery(app, first).imported
        again = ensure_gallery(app, first)
        assert again is not None and not again.imported and again.runs == 0
        assert len(app.list_runs(shipped=True)) == 3
        assert ensure_gallery(app, second).imported
        assert {r.experiment for r in app.list_runs(shipped=True)} == {"sweep-b"}
        assert import_gallery(app, second, force=True).runs == 2
        assert len(app.list_runs(shipped=True)) == 2


def test_a_users_experiment_of_the_same_name_is_never_mixed(tmp_path: Path):
    out = tmp_path / "gallery.jsonl.gz"
    with ledger_at(tmp_path / "source.db") as source:
        fill(source)
        export_gallery(source, ["sweep-a", "sweep-b"], out)
    with ledger_at(tmp_path / "mine.db") as mine:
        mine.start_run(sample_trace(9), experiment="sweep-a")
        result = import_gallery(mine, out)
        assert result.skipped == ["sweep-a"] and result.experiments == ["sweep-b"]
        assert len(mine.list_runs(experiment="sweep-a")) == 1
        assert not mine.list_runs(experiment="sweep-a")[0].shipped


def test_bad_files_say_what_is_wrong(tmp_path: Path):
    plain = tmp_path / "plain.jsonl.gz"
    with gzip.open(plain, "wt") as stream:
        stream.write('{"hello": 1}\n')
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip")
    with ledger_at(tmp_path / "app.db") as app:
        with pytest.raises(GalleryError, match="not a lab gallery"):
            import_gallery(app, plain)
        with pytest.raises(GalleryError, match="cannot read"):
            import_gallery(app, broken)
        with pytest.raises(GalleryError, match="no experiment named 'nope'"):
            export_gallery(app, ["nope"], tmp_path / "out.jsonl.gz")
        assert app.list_runs() == []


def test_lab_gallery_export_and_import_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "g.jsonl.gz"
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{tmp_path / 'source.db'}")
    with Ledger() as source:
        fill(source)
    runner = CliRunner()
    exported = runner.invoke(main, ["gallery", "export", "sweep-b", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "wrote 2 runs of 1 experiments" in exported.output
    assert "sweep-b: 1 problem of arith" in exported.output  # which problems, in the header
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{tmp_path / 'target.db'}")
    imported = runner.invoke(main, ["gallery", "import", str(out)])
    assert imported.exit_code == 0, imported.output
    assert "imported 2 runs of 1 experiments (sweep-b)" in imported.output
    assert "already" in runner.invoke(main, ["gallery", "import", str(out)]).output
    missing = runner.invoke(main, ["gallery", "export", "nope", "--out", str(out)])
    assert missing.exit_code != 0 and "no experiment named 'nope'" in missing.output


def test_the_shipped_gallery_imports_with_its_experiments(tmp_path: Path):
    header = gallery_header(SHIPPED)
    with ledger_at(tmp_path / "new.db") as new:
        result = import_gallery(new, SHIPPED)
        assert result.runs == header["runs"] > 0
        assert result.experiments == header["experiments"]
        stored = new.list_runs(shipped=True)
        assert len(stored) == header["runs"]
        voted = next(r for r in stored if r.strategy == "self-consistency")
        chains = [n for n in new.load_trace(voted.id).nodes if n.tokens]
        assert len(chains) == 8  # every chain with its tokens: shading and the divergence view
        assert all(t.logprob <= 0 for n in chains for t in n.tokens)  # shading
        assert all("".join(t.text for t in n.tokens) == n.text for n in chains)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_import_is_one_transaction_on_every_backend(backend: str, tmp_path: Path):
    out = tmp_path / "gallery.jsonl.gz"
    with ledger_at(tmp_path / "source.db") as source:
        fill(source)
        export_gallery(source, ["sweep-a", "sweep-b"], out)
    for url in backend_url(backend, tmp_path):
        with Ledger(url) as target:
            assert import_gallery(target, out).runs == 5
            assert not import_gallery(target, out).imported
            assert import_gallery(target, out, force=True).runs == 5  # replaced, not added
            assert len(target.list_runs(shipped=True)) == 5
            with pytest.raises(ReadOnlyRun):
                target.delete_run(target.list_runs(shipped=True)[0].id)


def test_lab_eval_will_not_add_runs_to_a_gallery_experiment(tmp_path: Path):
    out = tmp_path / "gallery.jsonl.gz"
    with ledger_at(tmp_path / "source.db") as source:
        fill(source)
        export_gallery(source, ["sweep-b"], out)
    with Ledger() as ledger:
        import_gallery(ledger, out)
    result = CliRunner().invoke(main, ["eval", "--set", "arith", "--limit", "1", "-s", "cot",
                                       "--experiment", "sweep-b"])
    assert result.exit_code != 0
    assert "sweep-b is in the gallery shipped with the lab (read-only)" in result.output
