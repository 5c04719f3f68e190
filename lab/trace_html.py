"""Parts of a trace as plain HTML strings, with inline styles only: a chain's tokens shaded by
probability, the divergence tree (lab.divergence), the nodes as a nested list.

No Streamlit here: the views (lab/views/) put these strings in Html blocks, which the app shows
with `st.html` and the report to hand out (lab/evaluation/handout.py) puts in a file.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Sequence

from lab.divergence import Branch, ChainEnd, Trie
from lab.engine.base import Token
from lab.trace import Node, NodeKind, NodeStatus, Trace

MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,monospace"
RIGHT, WRONG, MIXED, UNKNOWN = "#1b7f3b", "#c62828", "#e09f3e", "#adb5bd"
SHADE_BELOW = 0.95  # tokens at least this likely are left unshaded (and merged: a smaller file)
PREVIEW_TOKENS = 6


# -- tokens -----------------------------------------------------------------------------------
def tokens_html(tokens: Sequence[Token]) -> str:
    """The tokens' text, each unlikely token shaded red by 1 - p (its p on hover)."""
    pieces: list[str] = []
    plain: list[str] = []
    for token in tokens:
        p = _p(token.logprob)
        if p is None or p >= SHADE_BELOW:
            plain.append(token.text)
            continue
        pieces.append(html.escape("".join(plain)))
        plain = []
        alpha = round((1 - p) * 0.6 * 255)  # in hex: a smaller file
        pieces.append(f'<span title="p = {p:.2f}" style="background:#e63946{alpha:02x}">'
                      f"{html.escape(token.text)}</span>")
    pieces.append(html.escape("".join(plain)))
    return "".join(pieces)


def chain_html(node: Node, shade: bool = True) -> str:
    """A chain's text: tokens shaded by probability (unless `shade` is off, e.g. while a run
    is live), the extracted answer highlighted (plain text where its tokens do not spell it).
    Unshaded, it is cached by text, so an unchanged panel costs nothing to redraw."""
    if not shade or not node.tokens:
        return _plain_chain_html(node.text, node.answer_span)
    text, span = node.text, node.answer_span
    spelled = "".join(t.text for t in node.tokens) == text
    if not spelled or span is None:
        body = tokens_html(node.tokens) if spelled else html.escape(text)
        return _mono(body or '<span style="opacity:.5">…</span>')
    before, inside, after = _split_tokens(node.tokens, span)
    mark = _MARK.format(tokens_html(inside))
    return _mono(tokens_html(before) + mark + tokens_html(after))


@functools.lru_cache(maxsize=256)
def _plain_chain_html(text: str, span: tuple[int, int] | None) -> str:
    if span is None or not 0 <= span[0] <= span[1] <= len(text):
        return _mono(html.escape(text) or '<span style="opacity:.5">…</span>')
    return _mono(html.escape(text[: span[0]]) + _MARK.format(html.escape(text[span[0]:span[1]]))
                 + html.escape(text[span[1]:]))


_MARK = '<mark style="background:#ffd966;font-weight:700;padding:0 2px">{}</mark>'


def _split_tokens(tokens: Sequence[Token], span: tuple[int, int]
                  ) -> tuple[list[Token], list[Token], list[Token]]:
    """The tokens before, inside and after the character span (a token across an edge is
    split in two with the same probability)."""
    parts: tuple[list[Token], list[Token], list[Token]] = ([], [], [])
    position = 0
    for token in tokens:
        cuts = sorted({0, len(token.text), *(c - position for c in span
                                             if 0 < c - position < len(token.text))})
        for a, b in zip(cuts, cuts[1:], strict=False):
            where = position + a
            part = 0 if where < span[0] else 1 if where < span[1] else 2
            parts[part].append(Token(token.id, token.text[a:b], token.logprob))
        position += len(token.text)
    return parts


# -- the divergence tree ------------------------------------------------------------------------
def divergence_html(trie: Trie) -> str:
    """The prefix tree: the shared beginning once, then at each fork one collapsible branch
    per next token (its probability, how many chains took it, the answers below it)."""
    return (f'<div style="font-size:.88rem;line-height:1.45">'
            f"{_branch_body(trie.root)}</div>")


def divergence_summary(trie: Trie) -> str:
    """One sentence: how many chains, how long they agree, how many ways they end."""
    chains = len(trie.chains)
    first = trie.first_fork()
    answers = {(c.answer, c.correct) for c in trie.chains}
    where = ("they never part" if first is None else
             "they part at the first token" if first == 0 else
             f"all share the first {_plural(first, 'token')}")
    unit = "" if trie.exact else " (split into words: the run kept no tokens)"
    return (f"{chains} chains{unit}: {where}; {len(trie.forks())} forks; "
            f"{_plural(len(answers), 'distinct answer')}. Branches are ordered by how many "
            "chains took them; p is the model's probability of the branch's first token.")


def _branch_body(branch: Branch) -> str:
    parts = []
    if branch.tokens:
        parts.append(
            f'<div style="{MONO};white-space:pre-wrap;max-height:7.5em;overflow-y:auto;'
            'background:rgba(127,127,127,.07);border-radius:.3rem;padding:.2rem .4rem;'
            f'margin:.15rem 0">{tokens_html(branch.tokens)}</div>')
    parts += [_end_html(end) for end in branch.ends]
    if branch.children:
        parts.append(_fork_line(branch))
        parts += [_child_html(child) for child in branch.children]
    return "".join(parts)


def _fork_line(branch: Branch) -> str:
    kids = branch.children
    if len(kids) == 1:
        what = f"{_plural(kids[0].count, 'chain')} go on"
    else:
        what = f"the chains part {len(kids)} ways"
        mass = [c.probability for c in kids if c.probability is not None]
        if len(mass) == len(kids) and sum(mass) <= 1.005:  # (a scripted engine's may not be)
            what += f" (their first tokens hold {100 * sum(mass):.0f}% of the probability)"
    where = "at the first token" if branch.end == 0 else f"after {_plural(branch.end, 'token')}"
    return f'<div style="opacity:.7;font-size:.8rem;margin:.2rem 0">{where}, {what}:</div>'


def _child_html(child: Branch) -> str:
    colour = _colour(child.answers())
    opened = " open" if child.count > 1 else ""
    return (f"<details{opened} style=\"margin:.15rem 0\"><summary style=\"cursor:pointer\">"
            f"{_child_summary(child)}</summary>"
            f'<div style="margin-left:.3rem;border-left:3px solid {colour};'
            f'padding-left:.55rem">{_branch_body(child)}</div></details>')


def _child_summary(child: Branch) -> str:
    p = "p = ?" if child.probability is None else f"p = {child.probability:.2f}"
    preview = "".join(t.text for t in child.tokens[:PREVIEW_TOKENS])
    preview = preview.replace("\n", "⏎")[:48]
    more = "…" if len(child.tokens) > PREVIEW_TOKENS else ""
    who = _plural(child.count, "chain") if child.count > 1 else child.leaves()[0].label
    return (f'<b>{p}</b> · {who} · <code style="{MONO}">{html.escape(preview)}{more}</code> → '
            f"{_answers_html(child.answers())}")


def _answers_html(answers: Sequence[tuple[str | None, bool | None, int]]) -> str:
    shown = [f"{_answer_mark(a, ok)}{f' ×{n}' if n > 1 else ''}" for a, ok, n in answers[:5]]
    more = f" +{len(answers) - 5} more" if len(answers) > 5 else ""
    return ", ".join(shown) + more


def _end_html(end: ChainEnd) -> str:
    extra = "".join(f" · {word}" for word, on in (("★ chosen", end.chosen),
                                                  ("cut at the token cap", end.cut)) if on)
    verdict = {True: "right", False: "wrong", None: "not graded"}[end.correct]
    return (f'<div style="margin:.15rem 0">■ <b>{html.escape(end.label)}</b> ends: answer '
            f"{_answer_mark(end.answer, end.correct)} ({verdict}){extra}</div>")


def _answer_mark(answer: str | None, correct: bool | None) -> str:
    colour = {True: RIGHT, False: WRONG, None: UNKNOWN}[correct]
    mark = {True: " ✓", False: " ✗", None: ""}[correct]
    text = "no answer" if answer is None else answer[:24]
    return f'<b style="color:{colour}">{html.escape(text)}{mark}</b>'


def _colour(answers: Sequence[tuple[str | None, bool | None, int]]) -> str:
    grades = {ok for _, ok, _ in answers}
    if grades == {True}:
        return RIGHT
    if grades == {False}:
        return WRONG
    return MIXED if True in grades else UNKNOWN


# -- every node as a nested list ------------------------------------------------------------------
def node_tree_html(trace: Trace) -> str:
    """Every node under its parent: kind, status, answer, value and scores, and its text."""
    children: dict[int | None, list[Node]] = {}
    ids = {n.id for n in trace.nodes}
    for node in trace.nodes:
        children.setdefault(node.parent if node.parent in ids else None, []).append(node)
    return _node_list(children.get(None, []), children)


def _node_list(nodes: Sequence[Node], children: dict[int | None, list[Node]]) -> str:
    items = "".join(f"<li>{_node_line(n)}{_node_list(children.get(n.id, []), children)}</li>"
                    for n in nodes)
    return f'<ul style="padding-left:1.1rem;margin:.2rem 0">{items}</ul>' if items else ""


def _node_line(node: Node) -> str:
    facts = [f"<b>#{node.id} {node.kind.value}</b>"]
    if node.meta.get("depth") is not None:
        facts.append(f"depth {node.meta['depth']}")
    if node.status != NodeStatus.OPEN:
        facts.append(str(node.status))
    if node.chosen:
        facts.append("★ chosen")
    if node.answer is not None:
        facts.append(f"answer <code>{html.escape(node.answer)}</code>")
    value = node.meta.get("value")
    if isinstance(value, int | float) and node.kind != NodeKind.PROMPT:
        facts.append(f"value {value:.3f}")
    facts += [f"{html.escape(k)} {v:.3f}" for k, v in node.scores.items()]
    text = node.text if len(node.text) <= 400 else node.text[:400] + "…"
    body = (f'<div style="{MONO};font-size:.8rem;white-space:pre-wrap;opacity:.85">'
            f"{html.escape(text)}</div>") if text else ""
    return " · ".join(facts) + body


# -- helpers ------------------------------------------------------------------------------------
def _mono(body: str) -> str:
    return (f'<div style="{MONO};font-size:.82rem;line-height:1.5;white-space:pre-wrap">'
            f"{body}</div>")


def _p(logprob: float) -> float | None:
    return None if math.isnan(logprob) else math.exp(min(0.0, logprob))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"
