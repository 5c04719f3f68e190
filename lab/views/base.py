"""A view: one drawing of a trace (the votes, the candidates, the search tree, the chains...),
a class that describes itself like a strategy or a scorer.

A strategy names the views its trace needs (`Strategy.views`, by view name); each view turns a
trace into blocks (lab.views.blocks), which the app and the report both draw. A strategy that
needs a drawing of its own defines a `View` subclass in its own module (or a sibling file);
lab.views.registry finds it there, in lab/views/, in LAB_PLUGINS files and in installed
packages' entry points.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from lab.trace import NodeStatus, Trace
from lab.views.blocks import Block

STATUS_LABEL = {NodeStatus.OPEN: "", NodeStatus.KEPT: "kept", NodeStatus.PRUNED: "pruned",
                NodeStatus.REJECTED: "rejected", NodeStatus.ACCEPTED: "accepted",
                NodeStatus.STOPPED: "stopped early"}


@dataclass(frozen=True)
class Canvas:
    """Where and how a trace is drawn."""

    key: str  # prefix of element keys: unique for each place a trace is drawn
    live: bool = False  # still running: no click handlers, compute counted from the nodes
    color_tokens: bool = False  # shade tokens by log-probability
    compact: bool = False  # a narrow column (Compare): panels stacked, compute as one line
    elapsed_s: float | None = None  # wall time so far of a live run
    report: bool = False  # the HTML report (finished runs; everything open, no widgets)


REPORT = Canvas(key="report", color_tokens=True, report=True)


class View(ABC):
    """One drawing of a trace. Subclasses set `name` (what strategies ask for), `summary`
    (what it shows) and `order` (where an inferred view goes among others)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    order: ClassVar[int] = 50

    @abstractmethod
    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        """The blocks that draw this trace (none when it has nothing for this view yet)."""

    def applies(self, trace: Trace) -> bool:
        """Whether a stored trace whose strategy is no longer registered should get this
        view (inferred from what its nodes hold); views only a strategy asks for say no."""
        return False
