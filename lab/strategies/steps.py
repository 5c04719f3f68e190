"""Step-level search helpers shared by beam and tree search.

A partial solution is a path of STEP nodes under the prompt node; a step ends at a blank line
(the engine stops at "\\n\\n"), and the next step continues from the cached prefix
prompt + previous steps. A path is done when the model ended it (end of sequence), when it
states an answer explicitly ("The answer is", boxed, ####), or at the depth limit; only a
done path has an answer (a number in the middle of the reasoning is not one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lab.engine.base import Token
from lab.prompts import STEP_SEPARATOR
from lab.scorers import Candidate
from lab.strategies.base import sampling
from lab.strategies.context import RunContext
from lab.trace import Node, NodeKind

EXPLICIT_RULES = ("boxed", "hash", "answer-is")  # extraction rules that mean "I am done"


def steps(ctx: RunContext, node: Node) -> list[Node]:
    """The STEP nodes from the top of the search down to `node`."""
    return [n for n in ctx.trace.path_to(node.id) if n.kind == NodeKind.STEP]


def path_text(ctx: RunContext, node: Node) -> str:
    return STEP_SEPARATOR.join(n.text for n in steps(ctx, node))


def prefix(ctx: RunContext, node: Node) -> str:
    """What the next step continues: the steps so far, each followed by a blank line."""
    text = path_text(ctx, node)
    return text + STEP_SEPARATOR if text else ""


def path_tokens(ctx: RunContext, node: Node) -> list[Token]:
    return [t for n in steps(ctx, node) for t in n.tokens]


def is_done(node: Node) -> bool:
    return bool(node.meta.get("done"))


def depth_of(node: Node) -> int:
    return int(node.meta.get("depth", 0))


def path_candidate(ctx: RunContext, node: Node) -> Candidate:
    return Candidate(path_text(ctx, node), path_tokens(ctx, node), node.answer,
                     partial=not is_done(node))


def expand(ctx: RunContext, prompt: Any, parents: Sequence[Node], max_tokens: int,
           max_depth: int) -> list[Node]:
    """One engine call: the next step of each parent (repeat a parent to branch it)."""
    prefixes = [prefix(ctx, parent) for parent in parents]
    children = ctx.sample(prompt, parents, sampling(ctx.params, max_tokens,
                                                    stop=(STEP_SEPARATOR,)),
                          kind=NodeKind.STEP, prefixes=prefixes, extract=False)
    for child, parent in zip(children, parents, strict=True):
        depth = depth_of(parent) + 1
        ctx.extract(child, text=path_text(ctx, child))
        stated = child.answer is not None and child.meta["extract_rule"] in EXPLICIT_RULES
        done = child.finish_reason == "eos" or stated or depth >= max_depth
        child.meta.update(depth=depth, done=done)
        if not done:
            child.answer = None
        ctx.update(child)
    return children


def score_path(ctx: RunContext, node: Node, scorer: str) -> float:
    return ctx.score(node, scorer, path_candidate(ctx, node))
