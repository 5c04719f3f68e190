"""Drawing a trace. The same functions draw a live run (redrawn while it grows) and a stored one.

`render_trace` draws the outcome, the views the trace's strategy asks for
(`Strategy.views`: a vote chart, a candidates table, the search tree, the REPL
conversation, one panel per chain), and the compute panel. A stored run of a strategy that
is no longer registered gets the views its nodes call for.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Iterator, Sequence

import plotly.graph_objects as go
import streamlit as st

from lab.execution import ENGINE_NOTES
from lab.strategies.registry import find_strategy
from lab.tasks.problem import Problem
from lab.trace import VOTE_CORRECT, Node, NodeKind, NodeStatus, Trace, TraceStatus, TraceView
from lab.ui import conversation
from lab.ui.view import STATUS_LABEL, View

CHAIN_KINDS = (NodeKind.CHAIN, NodeKind.CRITIQUE, NodeKind.REVISION)
CANDIDATE_KINDS = (NodeKind.CHAIN, NodeKind.REVISION)
WINNER, OTHER, CORRECT = "#2a9d8f", "#b8c0c8", "#1b7f3b"


def render_trace(trace: Trace, view: View) -> None:
    outcome(trace, view)
    for name in views_of(trace):
        draw_view(name, trace, view)
    compute_panel(trace, view)


def views_of(trace: Trace) -> tuple[TraceView, ...]:
    """The views the trace's strategy asks for; for an unregistered one, what its nodes hold."""
    strategy = find_strategy(trace.strategy)
    if strategy is not None:
        return strategy.views
    kinds = {n.kind for n in trace.nodes}
    inferred = [
        (TraceView.VOTES, bool(trace.votes)),
        (TraceView.CANDIDATES, not trace.votes and any(
            n.scores for n in _nodes(trace, CANDIDATE_KINDS))),
        (TraceView.TREE, NodeKind.STEP in kinds),
        (TraceView.CONVERSATION, conversation.has_turns(trace)),
        (TraceView.CHAINS, True),
    ]
    return tuple(name for name, wanted in inferred if wanted)


def draw_view(name: TraceView, trace: Trace, view: View) -> None:
    if name == TraceView.VOTES:
        votes_chart(trace, view)
    elif name == TraceView.CANDIDATES:
        candidates_table(trace)
    elif name == TraceView.TREE:
        if any(n.kind == NodeKind.STEP for n in trace.nodes):
            from lab.ui.tree import search_tree  # plotly layout code, only for searches

            search_tree(trace, view)
    elif name == TraceView.CONVERSATION:
        if conversation.has_turns(trace):
            conversation.repl_conversation(trace)
    elif name == TraceView.CHAINS:
        chains(trace, view)
        if not view.live:  # the prefix tree of the chains: finished runs only
            from lab.ui.divergence import divergence_view

            divergence_view(trace, view)


# -- the outcome ------------------------------------------------------------------------------
def outcome(trace: Trace, view: View) -> None:
    """The final answer (graded when the gold answer is known), or how the run ended."""
    if trace.status == TraceStatus.RUNNING:
        st.caption(f"Running {trace.strategy} on {trace.model}…")
        return
    if trace.status == TraceStatus.FAILED:
        st.error(f"**The run failed.** {trace.error}")
    elif trace.status == TraceStatus.INTERRUPTED:
        st.warning("**Stopped.** The run was interrupted and is stored as interrupted; "
                   "it keeps what was generated.")
    answer = trace.final_answer
    gold = trace.problem.gold
    if answer is None:
        st.info(f"**No answer.** {trace.reason}" if trace.reason else "**No answer.**")
        return
    text = f"**Answer: {_md(answer)}**"
    if trace.correct is True:
        st.success(f"{text} — correct", icon=":material/check_circle:")
    elif trace.correct is False:
        st.error(f"{text} — wrong (the correct answer is {_md(gold or '?')})",
                 icon=":material/cancel:")
    else:
        st.info(text)
    if trace.reason:
        st.caption(f"Why: {trace.reason}")
    for note in trace.meta.get(ENGINE_NOTES, []):
        st.caption(f":material/info: The model server could not give everything asked: {note}.")


def problem_box(problem: Problem) -> None:
    with st.container(border=True):
        st.markdown(f"**{problem.source} · {problem.id}**")
        st.markdown(_md(problem.question))
        if problem.gold is not None:
            st.caption(f"Correct answer: {problem.gold}")


# -- chains -----------------------------------------------------------------------------------
def chains(trace: Trace, view: View) -> None:
    """One panel per sampled chain (critiques and revisions too), filled as tokens arrive."""
    nodes = _nodes(trace, CHAIN_KINDS)
    if not nodes:
        return
    st.markdown(f"##### {_plural(len(nodes), 'chain')}")
    if caption := cut_caption(trace):
        st.caption(caption)
    if view.color_tokens:
        st.caption("Tokens are shaded red by how unlikely the model found them; "
                   "the extracted answer is highlighted.")
    per_row = 1 if view.compact else min(3, len(nodes))
    numbers = _chain_numbers(nodes)
    if view.live:  # one element for every panel: the browser redraws it every second
        st.html(live_chains_html(nodes, numbers, per_row, 180 if view.compact else 220))
        return
    for row in _rows(nodes, per_row):
        for column, node in zip(st.columns(per_row), row, strict=False):
            with column:
                chain_panel(node, numbers[node.id], view)


def cut_caption(trace: Trace) -> str:
    """How many chains (and revisions) ended at their token cap, and what that meant."""
    solutions = trace.solutions()
    if not solutions:
        return ""
    cut = sum(n.cut for n in solutions)
    text = f"{cut} of {_plural(len(solutions), 'chain')} cut at the token cap"
    counted = trace.params.get("cut_votes")
    if cut and counted is False:
        text += ": cut chains neither vote nor are ranked (cut_votes is off)"
    elif cut and counted is True:
        text += ": cut chains vote and are ranked like the others (cut_votes is on)"
    return text + "."


def live_chains_html(nodes: Sequence[Node], numbers: dict[int, str], per_row: int,
                     height: int) -> str:
    """Every chain panel of a live run as one block of HTML: title, text so far, caption. A
    panel whose text, title and caption did not change since the last redraw is reused."""
    panels = [_live_panel(_plain_title(chain_title(node, numbers[node.id])), node.text,
                          chain_caption(node), height) for node in nodes]
    return (f'<div style="display:grid;grid-template-columns:repeat({per_row},minmax(0,1fr));'
            f'gap:1rem">{"".join(panels)}</div>')


def _plain_title(markdown: str) -> str:
    return markdown.replace("**", "").replace("`", "")


@functools.lru_cache(maxsize=512)
def _live_panel(title: str, text: str, caption: str, height: int) -> str:
    return ('<div style="border:1px solid rgba(49,51,63,.2);border-radius:.5rem;'
            'padding:.6rem .75rem">'
            f'<div style="font-weight:600;margin-bottom:.3rem">{html.escape(title)}</div>'
            f'<div style="height:{height}px;overflow-y:auto;white-space:pre-wrap;'
            'font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.82rem;'
            f'line-height:1.5">{html.escape(text) or "…"}</div>'
            f'<div style="opacity:.6;font-size:.8rem;margin-top:.3rem">'
            f"{html.escape(caption)}</div></div>")


def chain_panel(node: Node, number: str, view: View) -> None:
    with st.container(border=True, key=f"{view.key}-chain-{node.id}"):
        st.markdown(chain_title(node, number))
        with st.container(height=220 if not view.compact else 180, border=False):
            if node.meta.get("code") is not None:
                program_body(node)
            else:
                st.html(chain_html(node, view.color_tokens))
        st.caption(chain_caption(node))


def program_body(node: Node) -> None:
    """A chain that wrote a program: its code as code, then what running it printed or
    raised, and why it does not vote (the recursive view's style)."""
    st.code(node.meta["code"] or "# (no code)", language="python")
    if output := (node.meta.get("output") or "").rstrip():
        st.markdown("printed")
        st.code(output, language="text")
    if error := (node.meta.get("error") or "").rstrip():
        st.markdown(":red[raised]")
        st.code(error, language="text")
    if no_vote := node.meta.get("no_vote"):
        st.caption(f"No vote: {no_vote}.")


def chain_title(node: Node, number: str) -> str:
    parts = [f"**{number}**"]
    if node.answer is not None:
        parts.append(f"answer `{node.answer}`")
    if node.status != NodeStatus.OPEN:
        parts.append(STATUS_LABEL[node.status])
    if node.chosen:
        parts.append("★ chosen")
    return " · ".join(parts)


def chain_caption(node: Node) -> str:
    parts = [_plural(len(node.tokens), "token")]
    if node.tokens and "mean-logprob" not in node.scores:
        parts.append(f"mean log-prob {sum(t.logprob for t in node.tokens) / len(node.tokens):.2f}")
    parts += [f"{name} {value:.3f}" for name, value in dict(node.scores).items()]
    if node.finish_reason:
        parts.append(f"ended: {node.finish_reason}")
    if forced := node.meta.get("forced"):
        parts.append(f"then forced: {forced.strip()}")
    return " · ".join(parts)


def _chain_numbers(nodes: Sequence[Node]) -> dict[int, str]:
    labels: dict[int, str] = {}
    count = 0
    for node in nodes:
        if node.kind == NodeKind.CHAIN and "segment" in node.meta:  # one chain, in segments
            labels[node.id] = ("Answer" if node.meta.get("answer")
                               else f"Segment {node.meta['segment']}")
        elif node.kind == NodeKind.CHAIN:
            count += 1
            labels[node.id] = f"Chain {count}"
        else:
            labels[node.id] = f"{node.kind.value.title()} (round {node.meta.get('round', '?')})"
    return labels


def chain_html(node: Node, color: bool) -> str:
    """The chain's text as HTML: tokens shaded by probability, the answer highlighted. Without
    colouring (every live redraw) it is cached by text, so an unchanged panel costs nothing."""
    if not color or not node.tokens:
        return _plain_chain_html(node.text, node.answer_span)
    return _chain_html(node, color)


@functools.lru_cache(maxsize=256)
def _plain_chain_html(text: str, answer_span: tuple[int, int] | None) -> str:
    return _chain_html(Node(0, None, NodeKind.CHAIN, text, answer_span=answer_span), False)


def _chain_html(node: Node, color: bool) -> str:
    pieces = []
    for start, end, logprob in _split_at_answer(_segments(node, color), node.answer_span):
        text = html.escape(node.text[start:end])
        span = node.answer_span
        if span is not None and span[0] <= start < span[1]:
            pieces.append(f'<mark style="background:#ffd966;font-weight:700;padding:0 2px">'
                          f"{text}</mark>")
        elif logprob is not None:
            p = math.exp(min(0.0, logprob))
            pieces.append(f'<span title="p = {p:.2f}" style="background:rgba(230,57,70,'
                          f'{(1 - p) * 0.6:.2f})">{text}</span>')
        else:
            pieces.append(text)
    body = "".join(pieces) or '<span style="opacity:.5">…</span>'
    return ('<div style="font-family:ui-monospace,SFMono-Regular,Menlo,monospace;'
            f'font-size:0.82rem;line-height:1.5;white-space:pre-wrap">{body}</div>')


def _segments(node: Node, color: bool) -> list[tuple[int, int, float | None]]:
    """Character spans of the text, each with its token's log-prob when colouring."""
    text = node.text
    whole: list[tuple[int, int, float | None]] = [(0, len(text), None)] if text else []
    if not color or not node.tokens:
        return whole
    spans: list[tuple[int, int, float | None]] = []
    position = 0
    for token in node.tokens:
        end = min(len(text), position + len(token.text))
        if text[position:end] != token.text[: end - position]:
            return whole  # tokens that do not spell the text (e.g. split characters)
        if end > position:
            spans.append((position, end, token.logprob))
        position = end
    if position < len(text):
        spans.append((position, len(text), None))
    return spans


def _split_at_answer(segments: list[tuple[int, int, float | None]],
                     span: tuple[int, int] | None) -> Iterator[tuple[int, int, float | None]]:
    for start, end, logprob in segments:
        cuts = sorted({start, end, *(c for c in (span or ()) if start < c < end)})
        for a, b in zip(cuts, cuts[1:], strict=False):
            yield a, b, logprob


# -- votes ------------------------------------------------------------------------------------
def votes_chart(trace: Trace, view: View) -> None:
    """Votes per answer: the winner (or the live leader) coloured, the correct answer outlined."""
    st.markdown("##### Votes")
    if not trace.votes:
        st.caption("No votes yet: they appear as chains finish.")
        return
    items = sorted(dict(trace.votes).items(), key=lambda kv: -kv[1])
    if view.live:  # a text tally: a chart redrawn every second costs the engine its cores
        st.html(live_tally_html(items))
        return
    winner = _winning_group(trace)
    correct = [graded.get(answer) is True for answer, _ in items] if (
        graded := vote_grades(trace, view)) else [False] * len(items)
    st.plotly_chart(votes_figure(items, winner, correct, view.live), key=f"{view.key}-votes",
                    config={"displayModeBar": False})
    if trace.problem.gold is not None and not view.live and not any(correct):
        st.caption(f"The correct answer ({trace.problem.gold}) got no votes.")


def live_tally_html(items: Sequence[tuple[str, float]]) -> str:
    """The running votes as bars of text, the leader first."""
    top = max((weight for _, weight in items), default=1.0) or 1.0
    rows = []
    for rank, (answer, weight) in enumerate(items[:12]):
        color = WINNER if rank == 0 else OTHER
        width = max(2.0, 100 * weight / top)
        rows.append(
            f'<div style="display:flex;align-items:center;gap:.5rem;margin:2px 0">'
            f'<code style="min-width:6rem">{html.escape(answer[:24])}</code>'
            f'<div style="background:{color};height:1rem;width:{width:.0f}%;max-width:70%"></div>'
            f"<span>{_num(weight)}</span></div>")
    more = f"<div>… and {len(items) - 12} more answers</div>" if len(items) > 12 else ""
    return f'<div style="font-size:.9rem">leading: <b>{html.escape(items[0][0][:24])}</b>' \
           f'{"".join(rows)}{more}</div>'


def vote_grades(trace: Trace, view: View) -> dict[str, bool]:
    """Each voted answer's correctness as graded at the end of the run; a run stored before
    the lab kept it is graded once here (never while live)."""
    graded = trace.meta.get(VOTE_CORRECT)
    if graded is None and not view.live:
        from lab.execution import grade_votes

        graded = grade_votes(trace)
    return dict(graded or {})


def votes_figure(items: Sequence[tuple[str, float]], winner: str | None,
                 correct: Sequence[bool], live: bool) -> go.Figure:
    answers = [answer for answer, _ in items]
    labels = [f"{_num(weight)}{' ✓ correct' if ok else ''}"
              for (_, weight), ok in zip(items, correct, strict=True)]
    figure = go.Figure(go.Bar(
        x=[f"{a[:24]}" for a in answers], y=[w for _, w in items], text=labels,
        textposition="outside", cliponaxis=False,
        marker={"color": [WINNER if a == winner else OTHER for a in answers],
                "line": {"color": [CORRECT if ok else "rgba(0,0,0,0)" for ok in correct],
                         "width": 3}},
        hovertemplate="answer %{x}<br>%{y} votes<extra></extra>",
    ))
    title = "leading" if live else "winner"
    figure.update_layout(
        height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
        title={"text": f"{title}: {winner}" if winner else "", "font": {"size": 14}},
        xaxis={"title": "answer", "type": "category"}, yaxis={"title": "votes"},
    )
    return figure


def _winning_group(trace: Trace) -> str | None:
    if trace.status == TraceStatus.RUNNING:
        return None
    chosen = [n for n in _nodes(trace, (NodeKind.CHAIN,)) if n.chosen]
    return chosen[0].meta.get("group") if chosen else None


# -- candidates -------------------------------------------------------------------------------
def candidates_table(trace: Trace) -> None:
    """Each candidate with its scorer values, whether it was kept or rejected, and why."""
    rows = candidate_rows(trace)
    st.markdown("##### Candidates")
    if not rows:
        st.caption("No candidates yet.")
        return
    st.dataframe(rows, hide_index=True, width="stretch")


def candidate_rows(trace: Trace) -> list[dict[str, object]]:
    nodes = _nodes(trace, CANDIDATE_KINDS)
    scores = {n.id: dict(n.scores) for n in nodes}  # copies: a live run may be adding some
    scorers = sorted({name for values in scores.values() for name in values})
    numbers = _chain_numbers(nodes)
    rows = []
    for node in nodes:
        row: dict[str, object] = {"candidate": numbers[node.id], "answer": node.answer or "—"}
        row.update({name: round(scores[node.id][name], 3) if name in scores[node.id] else None
                    for name in scorers})
        row["decision"] = ("★ chosen" if node.chosen else STATUS_LABEL[node.status]) or "—"
        row["why"] = why(node, trace)
        rows.append(row)
    return rows


def why(node: Node, trace: Trace) -> str:
    parts = []
    for check in (c for c in trace.children(node.id) if c.kind == NodeKind.VERIFICATION):
        threshold = check.meta.get("threshold")
        against = f" (threshold {threshold:g})" if isinstance(threshold, int | float) else ""
        verdict = "accepted" if check.status == NodeStatus.ACCEPTED else "rejected"
        parts.append(f"{check.meta.get('verifier', 'verifier')} {verdict}: {check.text}{against}")
    if "rank" in node.meta:
        parts.append(f"ranked {node.meta['rank']} by {trace.params.get('scorer', 'the scorer')}")
    if node.kind == NodeKind.REVISION and node.status == NodeStatus.KEPT:
        parts.append("scored at least as high as the solution it revised")
    elif node.kind == NodeKind.REVISION and node.status == NodeStatus.REJECTED:
        parts.append("scored lower than the solution it revised, or lost its answer")
    if node.meta.get("refined"):
        parts.append(str(node.meta["refined"]))
    if node.answer is None and node.text:
        parts.append("no answer found")
    if node.finish_reason == "length":
        parts.append("cut off at the token limit")
    if node.chosen and trace.reason:
        parts.append(trace.reason)
    return "; ".join(parts)


# -- compute ----------------------------------------------------------------------------------
def compute_panel(trace: Trace, view: View) -> None:
    """Tokens generated (model verdicts included), prompt tokens decoded and served from the
    cache, wall time and speed (live: generated tokens counted from the nodes)."""
    compute = trace.compute
    generated = max(compute.all_generated, compute.verdict_tokens + sum(
        len(n.tokens) for n in trace.nodes if n.kind != NodeKind.PROMPT))
    wall = view.elapsed_s if view.live and view.elapsed_s is not None else compute.wall_s
    speed = generated / wall if wall > 0 else 0.0
    budget = f" of {trace.budget:,}" if trace.budget is not None else ""
    if view.compact or view.live:  # live: one line, cheap to redraw every second
        st.caption(f"{generated:,}{budget} tokens · {compute.prompt_tokens:,} prompt · "
                   f"{compute.cached_prompt_tokens:,} cached · {wall:.1f} s · "
                   f"{speed:.1f} tok/s · {compute.engine_calls} calls")
        return
    st.markdown("##### Compute")
    columns = st.columns(6)
    columns[0].metric("Generated tokens", f"{generated:,}{budget}", help=generated_help(trace))
    columns[1].metric("Prompt tokens", f"{compute.prompt_tokens:,}",
                      help="prompt tokens the engines decoded, verdict prompts included "
                           "(a prefix shared by several sequences once)")
    columns[2].metric("Cached prompt", f"{compute.cached_prompt_tokens:,}",
                      help="prompt tokens served from the KV cache instead of decoded")
    columns[3].metric("Wall time", f"{wall:.1f} s")
    columns[4].metric("Tokens / s", f"{speed:.1f}")
    columns[5].metric("Engine calls", f"{compute.engine_calls:,}")


def generated_help(trace: Trace) -> str:
    """What the generated tokens were spent on, by kind of call."""
    compute = trace.compute
    parts = ", ".join(f"{kind} {count:,}" for kind, count in compute.generated_by.items())
    return ("every generated token, what the budget caps: sampled "
            f"{compute.generated_tokens:,} + model verdicts {compute.verdict_tokens:,} "
            "(one per yes/no or grade read)" + (f"; by call: {parts}" if parts else ""))


# -- helpers ----------------------------------------------------------------------------------
def _nodes(trace: Trace, kinds: Sequence[NodeKind]) -> list[Node]:
    return [n for n in list(trace.nodes) if n.kind in kinds and not n.meta.get("rollout")]


def _rows(nodes: Sequence[Node], size: int) -> Iterator[Sequence[Node]]:
    for start in range(0, len(nodes), size):
        yield nodes[start : start + size]


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _md(text: str) -> str:
    """Text shown in markdown without it being read as markup (e.g. `*` or `$`)."""
    return "".join("\\" + ch if ch in "\\`*_{}[]<>()#+-.!|$~" else ch for ch in text)
