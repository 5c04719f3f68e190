"""What every drawing of a trace shares: where and how it is drawn (`View`) and the words for
node statuses. `render.py`, `tree.py` and `conversation.py` import it; it imports none of them."""

from __future__ import annotations

from dataclasses import dataclass

from lab.trace import NodeStatus

STATUS_LABEL = {NodeStatus.OPEN: "", NodeStatus.KEPT: "kept", NodeStatus.PRUNED: "pruned",
                NodeStatus.REJECTED: "rejected", NodeStatus.ACCEPTED: "accepted",
                NodeStatus.STOPPED: "stopped early"}


@dataclass(frozen=True)
class View:
    key: str  # prefix of element keys: unique for each place a trace is drawn
    live: bool = False  # still running: no click handlers, compute counted from the nodes
    color_tokens: bool = False  # shade tokens by log-probability
    compact: bool = False  # a narrow column (Compare): panels stacked, compute as one line
    elapsed_s: float | None = None  # wall time so far of a live run
