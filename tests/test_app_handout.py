"""AppTest: a finished run shows where its chains part ways and a report download, in the
Playground, History and Compare (scripted engine)."""

from __future__ import annotations

from test_app_support import finish, open_app, set_param, texts

from lab.engine.scripted import ScriptedEngine
from lab.views.chains import DIVERGENCE_TITLE as TITLE


def downloads(at: object) -> list[str]:
    return [b.label for b in at.get("download_button")]  # type: ignore[attr-defined]


def html_blocks(at: object) -> str:
    return " ".join(str(h.proto.body) for h in at.get("html"))  # type: ignore[attr-defined]


def test_playground_and_history_show_the_divergence_and_the_report(scripted: ScriptedEngine):
    at = open_app()
    set_param(at, "self-consistency", "n", 3)
    set_param(at, "self-consistency", "max_tokens", 32)
    at.button(key="pg.run").click().run()
    batch = finish(at, "pg.batch")
    assert [e.label for e in at.expander].count(TITLE) == 1
    tree = html_blocks(at)
    assert "2 chains" in tree and "Chain 2</b> ends: answer" in tree and "p = " in tree
    assert any(c.startswith("3 chains: all share the first") for c in texts(at.caption))
    assert "Download report" in downloads(at)
    assert not at.exception

    run_id = batch.runs[0].run_id
    at.switch_page("pages/history.py").run()
    at.selectbox(key="hist.open").set_value(run_id).run()
    assert not at.exception, at.exception
    assert TITLE in [e.label for e in at.expander]
    assert downloads(at) == ["Export JSONL", "Export CSV", "Download report"]


def test_compare_offers_the_comparison_report(scripted: ScriptedEngine):
    at = open_app("compare")
    at.multiselect(key="cmp.strategies").set_value(["cot", "best-of-n"]).run()
    set_param(at, "best-of-n", "n", 2, prefix="cmp")
    at.button(key="cmp.run").click().run()
    finish(at, "cmp.batch")
    assert "Download the comparison" in downloads(at)
    assert TITLE in [e.label for e in at.expander]  # best-of-n's two chains
    assert not texts(at.error)
