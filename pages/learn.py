"""Learn: what each kind of inference-time scaling does, costs and when it helps; what the
lab's own measurements say; how to read the Compare and Scaling pages."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from lab.evaluation import summarize
from lab.evaluation.ladder import LadderSpec, ladder_steps, load_specs
from lab.evaluation.report import Row
from lab.store.errors import LedgerError
from lab.store.ledger import Ledger
from lab.strategies.registry import get_strategy
from lab.ui import state
from lab.ui.entry import ensure_entrypoint
from lab.ui.findings import finding
from lab.ui.ladder import ladder_section
from lab.ui.presets import Section, expectation, request_preset, sections

README = "docs/results.md, *Scaling curves, measured*"

# More on the categories whose one-paragraph summary leaves out how they work


DEMO_RUNS = "learn-demos"  # the gallery's experiment of the demonstrations' runs


def demo_runs() -> dict[str, int]:
    """The gallery's stored run of each demonstrated strategy, by strategy."""
    ledger = state.ledger_or_error()
    if ledger is None or DEMO_RUNS not in ledger.experiments():
        return {}
    runs = ledger.list_runs(experiment=DEMO_RUNS, shipped=True)
    return {r.strategy: r.id for r in runs[::-1] if r.status == "complete"}


def open_in_history(run_id: int) -> None:
    st.session_state["hist.whose"] = "Gallery"
    st.session_state["hist.open"] = run_id
    st.switch_page("pages/history.py")


def strategy_card(section: Section, index: int, stored: dict[str, int]) -> None:
    category, preset = section.category, section.preset
    with st.container(border=True):
        st.subheader(category.title)
        st.markdown("\n".join(f"- `{name}`: {get_strategy(name).summary}"
                              for name in section.strategies))
        st.markdown(f"**What it does.** {category.what}")
        st.markdown(f"**What it costs.** {category.cost}")
        st.markdown(f"**When it helps.** {category.helps}")
        if category.how:
            with st.expander("How it works"):
                measured = finding(category.finding).get("text", "") if category.finding else ""
                st.markdown(f"{category.how} {measured}".strip())
        if preset is None:
            st.caption("No Playground preset: pick its strategy in the Playground.")
            return
        st.markdown(f"**What to expect.** {expectation(section.measured, preset.strategy)}")
        columns = st.columns([1, 1, 2])
        if columns[0].button(f"Try {preset.strategy} in the Playground", key=f"learn.{index}",
                             icon=":material/arrow_forward:"):
            request_preset(preset)
            st.switch_page("pages/playground.py")
        if preset.strategy in stored and columns[1].button(
                "Open the measured run", key=f"learn.stored.{index}", icon=":material/history:",
                help="This demonstration as it was measured, from the gallery (History)."):
            open_in_history(stored[preset.strategy])


def oracle_gap() -> None:
    """maj@k against pass@k from a sweep stored in the ledger."""
    st.markdown(
        "A vote over k chains is right when the right answer is the most common. "
        "**pass@k** is the share of problems where *any* of k chains is right: what a "
        "perfect verifier, one that always recognised the right chain, would reach with the "
        "same samples. The gap between the two is what better picking (a verifier, "
        "best-of-n) could still win without drawing a single extra token. Both come from "
        "the same stored chains: a sweep over n keeps only the largest run per problem and "
        "estimates every k below it from random k-subsets of its chains.")
    ledger = state.ledger_or_error()
    if ledger is None:
        return
    try:
        experiments = sorted({r.experiment for r in ledger.list_runs() if r.experiment})
    except LedgerError as exc:
        st.error(f"**The ledger cannot be read.** {exc}")
        return
    if not experiments:
        st.info("No sweep is stored in this lab's ledger yet (nor the gallery: `lab gallery "
                "import`). Run one on the **Scaling** page (self-consistency with the ladder "
                "n = 1, 4, 8, 16) or with `lab eval --set arith --limit 30 -s self-consistency "
                "--sweep n=1,4,8,16`, and its maj@k and pass@k appear here.")
        return
    chosen = st.selectbox("Experiment", experiments, index=len(experiments) - 1,
                          key="learn.experiment")
    pairs = gap_rows(summarize(ledger, chosen))
    if not pairs:
        st.info(f"**{chosen}** has no sweep over n of a voting or ranking strategy "
                "(self-consistency, best-of-n, confidence-vote, program), so it has no "
                "maj@k and pass@k. Sweep n on the Scaling page to get them.")
        return
    for strategy, rows in pairs.items():
        st.plotly_chart(gap_figure(strategy, rows), key=f"learn.gap.{strategy}")
        st.dataframe([{"k": k, "pick (maj@k or best@k)": _fmt(pick), "pass@k": _fmt(oracle),
                       "gap": _fmt(None if pick is None or oracle is None else oracle - pick)}
                      for k, pick, oracle in rows], hide_index=True)


def gap_rows(rows: list[Row]) -> dict[str, list[tuple[int, float | None, float | None]]]:
    """Per strategy: (k, maj@k or best@k, pass@k) for every k that has pass@k."""
    picks: dict[tuple[str, int], float | None] = {}
    oracle: dict[tuple[str, int], float | None] = {}
    for row in rows:
        if row.k is None:
            continue
        if row.metric == "pass@k":
            oracle[(row.strategy, row.k)] = row.accuracy
        elif row.metric in ("maj@k", "best@k"):
            picks[(row.strategy, row.k)] = row.accuracy
    for row in rows:  # the largest n is a measured row: its own answer is the pick at k = n
        n = row.params.get("n")
        if row.metric == "accuracy" and isinstance(n, int) and (row.strategy, n) in oracle:
            picks.setdefault((row.strategy, n), row.accuracy)
    found: dict[str, list[tuple[int, float | None, float | None]]] = {}
    for strategy, k in sorted(oracle):
        found.setdefault(strategy, []).append((k, picks.get((strategy, k)),
                                               oracle[(strategy, k)]))
    return found


def gap_figure(strategy: str, rows: list[tuple[int, float | None, float | None]]) -> go.Figure:
    ks = [k for k, _, _ in rows]
    figure = go.Figure()
    figure.add_scatter(x=ks, y=[p for _, p, _ in rows], name=f"{strategy}: its pick",
                       mode="lines+markers")
    figure.add_scatter(x=ks, y=[o for _, _, o in rows], name="pass@k (perfect verifier)",
                       mode="lines+markers", line={"dash": "dash"})
    figure.update_layout(title=f"{strategy}: the pick against the oracle", height=320,
                         xaxis={"title": "k (chains)", "type": "log", "tickvals": ks},
                         yaxis={"title": "accuracy", "range": [0, 1]},
                         margin={"t": 40, "b": 40})
    return figure


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def reading_pages() -> None:
    st.markdown(
        "**Compare** runs two to four strategies on one problem with one token budget, one "
        "after another on the same model. A sampling strategy spends the budget on more "
        "chains of its usual length (its n is set from the budget; the caption under each "
        "column says how). Read the summary table first: each strategy's answer, ✓ or ✗, "
        "the tokens it generated and the seconds it took. Then the columns: the chains, "
        "votes, scores or tree of each, drawn as in the Playground, and *Where the chains "
        "part ways* to see at which token the sampled chains split. One problem is an "
        "anecdote: a strategy that wins here may lose on the next; the Scaling page "
        "measures over many.\n\n"
        "**Scaling** sweeps strategies over a sample of a problem set and a ladder of one "
        "knob (n, width, min_tokens or the token budget), stored in the ledger as an "
        "experiment. The figure puts accuracy on the y axis against the mean generated "
        "tokens per problem on a log x axis: one line per strategy, a point per rung of the "
        "ladder. Error bars are 95% Wilson intervals: with 20 or 30 problems they are wide "
        "(±0.15 or more), so two lines whose bars overlap are not shown to differ. Dashed "
        "lines are pass@k, the oracle bound (above). Rows marked * are derived from the "
        "chains of the largest n; ± sd is how much one real run of k samples would "
        "scatter around that estimate. `% cut` is the share of chains stopped at their "
        "token cap: high means the cap, not the strategy, may be what limits accuracy. A "
        "strategy is worth its compute where its curve lies above the others at the same x.")


def which_when() -> None:
    found = finding("which_when")
    rows = [*ladder_rows(), *(found.get("rows") or [])]
    st.markdown(
        "From the lab's own measurements with the default model: the gallery's ladder (its "
        "first row, read from the stored runs) and " + README + " (" +
        found.get("measured", "") + "). 50 problems per set, so read them as trends.\n\n"
        "| situation | measured | so |\n|---|---|---|\n" +
        "".join(f"| {r['situation']} | {r['measured']} | {r['so']} |\n" for r in rows) +
        "\nThe demonstrations in *Strategies* are single problems chosen because the effect "
        "shows on them, not accuracies: they say a strategy *can* help, the table says how "
        "often.")


def ladder_rows() -> list[dict[str, str]]:
    """Each stored ladder's steps as one row of the table, from the gallery's stored runs."""
    ledger = state.ledger_or_error()
    if ledger is None:
        return []
    stored = ledger.experiments()
    return [row for spec in load_specs() if spec.experiment in stored
            for row in ladder_row(ledger, spec)]


def ladder_row(ledger: Ledger, spec: LadderSpec) -> list[dict[str, str]]:
    steps = [s for s in ladder_steps(spec, summarize(ledger, spec.experiment, spec.ladders()))
             if s.row is not None and s.row.accuracy is not None]
    if not steps:
        return []
    first = steps[0].row
    assert first is not None
    climb = " → ".join(f"{s.spec.title.lower()} {s.row.accuracy:.2f} ({s.row.tokens:,.0f} "
                       "tokens)" for s in steps if s.row is not None)
    return [{"situation": f"more tokens on the same problems ({first.problem_set}, "
                          f"{first.problems} problems, `{spec.experiment}`)",
             "measured": climb,
             "so": "a step is worth its tokens where it lands above the step before; the last "
                   "is the oracle a perfect verifier would reach"}]


def ladder_tab() -> None:
    """The stored ladders (the gallery's GSM8K one first); a choice when there are several."""
    specs = load_specs()
    ledger = state.ledger_or_error()
    if not specs:
        st.info("The ladder's steps (data/ladder.json) are missing.")
        return
    if ledger is None:
        return
    try:
        stored = ledger.experiments()
        shown = [spec for spec in specs if spec.experiment in stored] or specs[:1]
        spec = shown[0]
        if len(shown) > 1:
            names = {s.experiment: s for s in shown}
            spec = names[st.radio("Ladder", list(names), key="learn.ladder.which",
                                  horizontal=True,
                                  format_func=lambda name: f"{names[name].title} ({name})")]
        ladder_section(ledger, spec)
    except LedgerError as exc:
        st.error(f"**The ledger cannot be read.** {exc}")

ensure_entrypoint()
st.title("Learn")
st.caption("Inference-time scaling: spend more compute when answering, instead of training a "
           "bigger model. Each section opens the Playground on a problem measured to show "
           "its effect.")

climb_tab, strategies_tab, oracle_tab, pages_tab, when_tab = st.tabs(
    ["From greedy to a vote", "Strategies", "Vote against a perfect verifier",
     "Reading Compare and Scaling", "Which strategy when"])
with climb_tab:
    ladder_tab()
with strategies_tab:
    model = state.selected_model_name()
    found = sections(model)
    measured_with = sorted({s.measured.model for s in found if s.measured is not None})
    if measured_with and model not in measured_with:
        st.info(f"The demonstrations were measured with {', '.join(measured_with)}, not "
                f"`{model}`: the effects may not show with it. `nice -n 10 python "
                f"scripts/find_demos.py --model {model}` measures its own.")
    stored_demos = demo_runs()
    for position, section in enumerate(found):
        strategy_card(section, position, stored_demos)
with oracle_tab:
    oracle_gap()
with pages_tab:
    reading_pages()
with when_tab:
    which_when()
