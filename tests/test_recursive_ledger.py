"""The hostile battery through the `recursive` strategy itself: every turn ends contained with
an error in the trace, the run goes on to its answer, and the ledger records and reopens it."""

from __future__ import annotations

from lab.engine.scripted import ScriptedEngine
from lab.store.ledger import Ledger
from lab.strategies import run_strategy
from lab.strategies.recursive_view import conversation
from lab.tasks.datasets import load_set
from lab.trace import NodeKind, TraceStatus

FRESH = ("BI = [c for c in object.__subclasses__() if c.__name__ == 'BuiltinImporter'][0]\n"
         "posix = BI.create_module(BI.find_spec('posix'))\n")
HOSTILE = {
    "read a file": "print(open('/etc/shadow').read())",
    "open a socket": "import socket\nsocket.create_connection(('1.1.1.1', 53))",
    "fork bomb": FRESH + "while True:\n    posix.fork()",
    "allocate 10 GB": "x = bytearray(10 * 1024 ** 3)",
    "loop forever": "while True:\n    try:\n        while True:\n            pass\n"
                    "    except BaseException:\n        pass",
    "write memory": "import ctypes\nctypes.memset(16, 0, 1 << 20)",
    "crash": "BI = [c for c in object.__subclasses__() if c.__name__ == 'BuiltinImporter'][0]\n"
             "BI.create_module(BI.find_spec('faulthandler'))._read_null()",
    "environment secrets": "import os\nprint(os.environ['LAB_TEST_SECRET'])",
}


def block(code: str) -> str:
    return f"```python\n{code}\n```"


def test_hostile_turns_are_contained_and_recorded(monkeypatch):
    monkeypatch.setenv("LAB_TEST_SECRET", "hunter2-secret-token")
    problem = load_set("longctx")[0]
    replies = [block(code) for code in HOSTILE.values()] + [block("final(len(context))")]
    with Ledger() as ledger:
        recorder = ledger.recorder(flush_interval_s=0)
        trace = run_strategy("recursive", problem, ScriptedEngine(replies),
                             {"max_turns": len(replies), "timeout_s": 0.5}, on_event=recorder)
        ledger.finish_run(recorder.run_id, trace)
        stored = ledger.load_trace(recorder.run_id)

    assert trace.status == TraceStatus.COMPLETE and trace.final_answer is not None
    turns = [n for n in stored.nodes if n.kind == NodeKind.CODE]
    assert len(turns) == len(replies)
    for name, turn in zip(HOSTILE, turns, strict=False):
        assert turn.meta["error"], f"{name} ended without an error"
        assert "hunter2" not in (turn.meta["output"] or "") + turn.meta["error"]
    by_name = dict(zip(HOSTILE, turns, strict=False))
    assert by_name["loop forever"].meta["timed_out"]
    assert by_name["crash"].meta["state_lost"] and "SIGSEGV" in by_name["crash"].meta["error"]
    assert "MemoryError" in by_name["allocate 10 GB"].meta["error"]
    assert stored.final_answer == trace.final_answer
    assert [t["error"] for t in conversation(stored)] == [t.meta["error"] for t in turns]


def test_the_lab_keeps_working_after_the_battery():
    problem = load_set("longctx")[1]
    with Ledger() as ledger:
        for code in (*HOSTILE.values(), "final(42)"):
            recorder = ledger.recorder(flush_interval_s=0)
            trace = run_strategy("recursive", problem, ScriptedEngine(block(code)),
                                 {"max_turns": 1, "timeout_s": 0.3}, on_event=recorder)
            ledger.finish_run(recorder.run_id, trace)
        runs = ledger.list_runs()
    assert len(runs) == len(HOSTILE) + 1
    assert trace.final_answer == "42"
