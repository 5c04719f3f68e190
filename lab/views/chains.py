"""The chains view: one panel per sampled chain (critiques and revisions too), its tokens
shaded by probability, the extracted answer highlighted; for a finished run, where the chains
part ways (lab.divergence). A strategy whose chains need more (a program's code, the words a
budget forcing forced) subclasses `ChainsView` and overrides `body` or `caption_parts`.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import ClassVar

from lab.divergence import build_trie, divergent_chains
from lab.grades import extra_grades
from lab.trace import Node, NodeStatus, Trace, TraceStatus, TraceView, chain_labels, drawn_chains
from lab.trace_html import chain_html, divergence_html, divergence_summary
from lab.views.base import STATUS_LABEL, Canvas, View
from lab.views.blocks import Block, Caption, Expander, Grid, Heading, Html, Panel

DIVERGENCE_TITLE = "Where the chains part ways"
SHADING = ("Tokens are shaded red by how unlikely the model found them (hover for p); "
           "the extracted answer is highlighted.")


class ChainsView(View):
    name: ClassVar[str] = TraceView.CHAINS
    summary = "One panel per chain, tokens shaded by probability, and where the chains part ways."
    order = 90

    def applies(self, trace: Trace) -> bool:
        return True

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        nodes = drawn_chains(list(trace.nodes))
        if not nodes:
            return []
        blocks: list[Block] = [Heading(plural(len(nodes), "chain"))]
        if caption := cut_caption(trace):
            blocks.append(Caption(caption))
        if canvas.color_tokens:
            blocks.append(Caption(SHADING))
        per_row = 1 if canvas.compact else min(3, len(nodes))
        labels = chain_labels(nodes)
        height = 180 if canvas.compact else 220
        if canvas.live:  # one element for every panel: the browser redraws it every second
            blocks.append(Html(live_chains_html(
                [(chain_title(n, labels[n.id]), n.text, self.caption(n)) for n in nodes],
                per_row, height)))
            return blocks
        panels = [Panel(chain_title(n, labels[n.id]), self.body(n, canvas), self.caption(n),
                        key=f"{canvas.key}-chain-{n.id}", height=height) for n in nodes]
        blocks.append(Grid(panels, per_row))
        blocks += divergence(trace, canvas)
        return blocks

    def body(self, node: Node, canvas: Canvas) -> Sequence[Block]:
        """What a chain's panel holds: its text (a subclass may draw more)."""
        return [Html(chain_html(node, shade=canvas.color_tokens))]

    def caption(self, node: Node) -> str:
        return " · ".join(self.caption_parts(node))

    def caption_parts(self, node: Node) -> list[str]:
        """Tokens, mean log-prob, scores and how it ended (a subclass may add parts)."""
        parts = [plural(len(node.tokens), "token")]
        if node.tokens and "mean-logprob" not in node.scores:
            mean = sum(t.logprob for t in node.tokens) / len(node.tokens)
            parts.append(f"mean log-prob {mean:.2f}")
        parts += [f"{name} {value:.3f}" for name, value in dict(node.scores).items()]
        if node.finish_reason:
            parts.append(f"ended: {node.finish_reason}")
        return parts


def chain_title(node: Node, label: str) -> str:
    parts = [f"**{label}**"]
    if node.answer is not None:
        parts.append(f"answer `{node.answer}`")
    if node.status != NodeStatus.OPEN:
        parts.append(STATUS_LABEL[node.status])
    if node.chosen:
        parts.append("★ chosen")
    return " · ".join(parts)


def cut_caption(trace: Trace) -> str:
    """How many chains (and revisions) ended at their token cap, and what that meant."""
    solutions = trace.solutions()
    if not solutions:
        return ""
    cut = sum(n.cut for n in solutions)
    text = f"{cut} of {plural(len(solutions), 'chain')} cut at the token cap"
    counted = trace.params.get("cut_votes")
    if cut and counted is False:
        text += ": cut chains neither vote nor are ranked (cut_votes is off)"
    elif cut and counted is True:
        text += ": cut chains vote and are ranked like the others (cut_votes is on)"
    return text + "."


def divergence(trace: Trace, canvas: Canvas) -> list[Block]:
    """The chains' prefix tree, for a finished run with two or more chains (never live: the
    live view stays cheap)."""
    if canvas.live or trace.status == TraceStatus.RUNNING or len(divergent_chains(trace)) < 2:
        return []
    trie = build_trie(trace, extra_grades(trace))
    return [Expander(DIVERGENCE_TITLE, [Caption(divergence_summary(trie)),
                                        Html(divergence_html(trie))],
                     key=f"{canvas.key}-divergence", icon="account_tree")]


# -- the live panels ---------------------------------------------------------------------------
def live_chains_html(panels: Sequence[tuple[str, str, str]], per_row: int, height: int) -> str:
    """Every chain panel of a live run, (title, text so far, caption) each, as one block of
    HTML. A panel whose title, text and caption did not change since the last redraw is
    reused."""
    cells = [_live_panel(_plain_title(title), text, caption, height)
             for title, text, caption in panels]
    return (f'<div style="display:grid;grid-template-columns:repeat({per_row},minmax(0,1fr));'
            f'gap:1rem">{"".join(cells)}</div>')


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


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"
