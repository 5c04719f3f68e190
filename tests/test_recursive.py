"""`recursive` on a scripted engine: a model that writes correct code solves every longctx
problem exactly; the trace records turns and sub-calls; every limit ends the run cleanly."""

from __future__ import annotations

import ast
import re
import tempfile
import threading
from pathlib import Path

import pytest

from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.sandbox import TurnResult
from lab.strategies import run_strategy
from lab.strategies.recursive import (
    WORKED_EXAMPLES,
    extract_code,
    feedback,
    printed_value,
)
from lab.strategies.recursive_view import conversation
from lab.tasks import longctx
from lab.tasks.datasets import load_set
from lab.tasks.problem import Problem
from lab.trace import NodeKind, NodeStatus, Trace, TraceStatus

ROOT = "too long to read at once"
COUNT_REQUEST = re.compile(r"Count the lines that contain all of (\[.*?\])\.")
PROBLEMS = load_set("longctx")


def block(code: str) -> str:
    return f"Let me compute it.\n```python\n{code}\n```\nThat should do it."


def chunked_count(needles: list[str]) -> str:
    """Code that counts lines in chunks with llm_batch and adds the answers up in code."""
    return (f"needles = {needles!r}\n"
            "lines = context.splitlines(keepends=True)\n"
            "chunks = [''.join(lines[i:i + 400]) for i in range(0, len(lines), 400)]\n"
            "asks = [f'Count the lines that contain all of {needles!r}. Reply with the number "
            "only.\\n\\n' + chunk for chunk in chunks]\n"
            "counts = llm_batch(asks)\n"
            "print(len(chunks), 'chunks:', counts)\n"
            "final(sum(int(c) for c in counts))")


def solution(question: str, turn: int) -> str:
    """What a model that writes correct code replies, for each kind of longctx question."""
    if m := re.search(r"city=(\w+) and status=(\w+)\?", question):
        return chunked_count([f"city={m[1]};", f"status={m[2]}"])
    if m := re.search(r"customer=([\w ]+) place\?", question):
        return chunked_count([f"customer={m[1]};"])
    if m := re.search(r"city=(\w+) and product=(\w+)\?", question):
        return ("import re\nrows = re.findall(r'city=(\\w+); product=(\\w+); qty=\\d+; "
                "price=(\\d+);', context)\n"
                f"final(max(int(p) for c, d, p in rows if (c, d) == ({m[1]!r}, {m[2]!r})))")
    if m := re.search(r"product=(\w+)\?", question):
        return ("import re\n"
                f"final(sum(int(q) for q in re.findall(r'product={m[1]}; qty=(\\d+);', context)))")
    if m := re.search(r"orders (\d+), (\d+) and (\d+)\?", question):
        if turn == 1:  # look first, answer next turn: variables persist
            return ("import re\nfound = {n: re.search(rf'^order {n}: .*?price=(\\d+);', context, "
                    f"re.M) for n in {list(m.groups())!r}}}\n"
                    "print({n: bool(hit) for n, hit in found.items()})")
        return "final(sum(int(hit.group(1)) for hit in found.values()))"
    raise AssertionError(f"no solution for {question!r}")


def count_lines(request: str) -> str:
    """A sub-call answered exactly, as a perfect reader of the chunk would."""
    needles = ast.literal_eval(COUNT_REQUEST.search(request)[1])
    text = request.split("\n\n", 1)[1]
    return str(sum(1 for line in text.splitlines() if all(n in line for n in needles)))


def good_model(request: ScriptedRequest) -> str:
    if ROOT in request.prompt:
        question = re.findall(r"Question: (.*)", request.prompt)[-1]  # after the examples
        turn = request.prompt.count("<|assistant|>") - len(WORKED_EXAMPLES)
        return block(solution(question, turn))
    return count_lines(request.prompt)


def solve(problem: Problem, respond, budget: int | None = None, **params) -> Trace:
    engine = ScriptedEngine(respond, n_ctx=32_768)
    return run_strategy("recursive", problem, engine, params, budget=budget)


def nodes(trace: Trace, kind: NodeKind) -> list:
    return [n for n in trace.nodes if n.kind == kind]


# -- solving ----------------------------------------------------------------------------------
def test_solves_every_longctx_problem_exactly():
    assert len(PROBLEMS) == 20
    for problem in PROBLEMS:
        trace = solve(problem, good_model)
        assert trace.status == TraceStatus.COMPLETE, (problem.id, trace.error)
        assert longctx.check(problem, trace.final_answer), (problem.id, trace.final_answer)
        assert trace.meta["sandbox"]["namespaces"] in (True, False)


def test_the_root_never_sees_the_whole_context():
    problem = PROBLEMS[0]
    engine = ScriptedEngine(good_model, n_ctx=32_768)
    run_strategy("recursive", problem, engine)
    document = longctx.document(problem)
    root_prompts = [r.prompt for r in engine.requests if ROOT in r.prompt]
    assert root_prompts and all(len(p) < 5000 for p in root_prompts)
    assert f"{len(document):,} characters" in root_prompts[0]
    assert document[:200] in root_prompts[0]  # a short head


def test_trace_records_turns_code_output_and_subcalls():
    problem = next(p for p in PROBLEMS if p.metadata["qtype"] == "count")
    trace = solve(problem, good_model)
    [prompt] = [n for n in nodes(trace, NodeKind.PROMPT) if n.parent is None]
    [turn] = nodes(trace, NodeKind.CODE)
    assert turn.parent == prompt.id and turn.meta["code"].startswith("needles =")
    assert "chunks:" in turn.meta["output"] and turn.meta["error"] is None
    subcalls = nodes(trace, NodeKind.SUBCALL)
    assert len(subcalls) == trace.meta["subcalls"] >= 5
    assert all(s.parent == turn.id and "Count the lines" in s.meta["prompt"] for s in subcalls)
    [answer] = nodes(trace, NodeKind.ANSWER)
    assert answer.parent == turn.id and turn.chosen and turn.answer == trace.final_answer
    assert trace.compute.engine_calls == 1 + len(subcalls)
    talk = conversation(trace)
    assert len(talk) == 1 and len(talk[0]["subcalls"]) == len(subcalls)
    assert talk[0]["final"] == trace.final_answer


def test_state_persists_across_turns():
    problem = next(p for p in PROBLEMS if p.metadata["qtype"] == "needles")
    trace = solve(problem, good_model)
    first, second = nodes(trace, NodeKind.CODE)
    assert "True" in first.meta["output"] and second.meta["final"] == problem.gold
    assert trace.meta["turns"] == 2


def test_a_nested_repl_at_depth_two():
    problem = next(p for p in PROBLEMS if p.metadata["qtype"] == "sum")
    product = re.search(r"product=(\w+)", problem.question)[1]

    def respond(request: ScriptedRequest) -> str:
        question = re.findall(r"Question: (.*)", request.prompt)[-1]
        if question.startswith("Total qty"):  # the nested REPL, over half of the log
            return block(f"import re\nfinal(sum(int(q) for q in re.findall("
                         f"r'product={product}; qty=(\\d+);', context)))")
        return block("half = len(context) // 2\ncut = context.index('\\n', half) + 1\n"
                     "parts = [llm('Total qty of " + product + "?', context=context[:cut]),\n"
                     "         llm('Total qty of " + product + "?', context=context[cut:])]\n"
                     "final(sum(int(p) for p in parts))")

    trace = solve(problem, respond, max_depth=2)
    assert trace.final_answer == problem.gold and trace.meta["depth_reached"] == 2
    outer = [n for n in nodes(trace, NodeKind.SUBCALL) if n.meta.get("nested")]
    assert len(outer) == 2 and all(n.answer for n in outer)
    inner_turns = conversation(trace)[0]["subcalls"][0]["turns"]
    assert inner_turns and inner_turns[0]["depth"] == 2 and inner_turns[0]["final"]


# -- the root prompt's worked examples ----------------------------------------------------------
TICKETS = "".join(f"ticket {n:05d}: user=u{n % 7}; team={('red', 'blue', 'green')[n % 3]}; "
                  f"hours={n % 9 + 1}\n" for n in range(1, 1200))
EASY = load_set("longctx-easy")
SLICES, COUNT, LOOKUP = (code for _, _, code in WORKED_EXAMPLES)


def test_the_worked_examples_are_earlier_turns_of_the_chat():
    engine = ScriptedEngine(good_model, n_ctx=32_768)
    run_strategy("recursive", PROBLEMS[0], engine)
    prompt = engine.requests[0].prompt
    assert prompt.count("<|assistant|>") == 1 + len(WORKED_EXAMPLES)
    assert all(f"Question: {question}" in prompt for question, _, _ in WORKED_EXAMPLES)
    assert COUNT in prompt and LOOKUP in prompt and "size = 6000" in prompt
    assert prompt.rindex("Question: ") > prompt.index(LOOKUP)  # the real question comes last


def test_the_worked_examples_run_and_answer_right():
    """Each example's code, run as a reply on a text of the shape it was written for."""
    assert all(code.count("final(") == 1 for _, _, code in WORKED_EXAMPLES)
    tickets = Problem(id="t", question=TICKETS)
    red = sum(1 for n in range(1, 1200) if n % 3 == 0)
    assert solve(tickets, block(COUNT)).final_answer == str(red)
    assert solve(tickets, block(LOOKUP)).final_answer == str(427 % 9 + 1)
    letters = Problem(id="l", question="Dear mayor, the buses in Oslo are late. " * 400)
    slices = SLICES.format(piece_chars=6000)
    trace = solve(letters, lambda r: block(slices) if ROOT in r.prompt else " Oslo\n")
    subcalls = nodes(trace, NodeKind.SUBCALL)
    assert trace.final_answer == "Oslo" and len(subcalls) == -(-16_000 // 6000)
    assert all(len(s.meta["prompt"]) < 6200 for s in subcalls)  # one slice each


def copy_the_examples(request: ScriptedRequest) -> str:
    """A model that answers an easy question by copying the worked example for its kind of
    question from the prompt and changing only the names in it."""
    question = re.findall(r"Question: (.*)", request.prompt)[-1]
    assert COUNT in request.prompt and LOOKUP in request.prompt
    if m := re.fullmatch(r"How many orders have (\w+=\w+)\?", question):
        return block(COUNT.replace("team=red", m[1]))
    if m := re.fullmatch(r"What is the (\w+) of order (\d+)\?", question):
        return block(LOOKUP.replace("ticket 00427", f"order {m[2]}").replace("hours", m[1]))
    raise AssertionError(question)


def test_copying_the_worked_examples_solves_the_easy_tier():
    assert len(EASY) == 20
    for problem in EASY:
        trace = solve(problem, copy_the_examples)
        assert longctx.check(problem, trace.final_answer), (problem.id, trace.final_answer)
        assert trace.meta["turns"] == 1 and trace.reason == "final() was called in turn 1"


def test_a_printed_answer_is_offered_back_as_a_final_block():
    """The 0.5B model printed the right count turn after turn; the feedback now shows the
    final() block to write, and a model that copies it ends the run."""
    problem = EASY[0]

    def respond(request: ScriptedRequest) -> str:
        if request.prompt.count("<|assistant|>") == 1 + len(WORKED_EXAMPLES):
            return block(f"print(sum(1 for line in context.splitlines() if "
                         f"'{problem.metadata['query'][20:-1]}' in line))")
        return block(extract_code(request.prompt.split("<|user|>")[-1]))

    trace = solve(problem, respond)
    assert trace.final_answer == problem.gold and trace.meta["turns"] == 2


def test_re_math_and_counter_are_imported_also_after_a_crash():
    code = "final(str(Counter(re.findall('a', 'banana'))['a'] + math.floor(0.5)))"
    swallows_the_timeout = ("while True:\n    try:\n        while True:\n            pass\n"
                            "    except BaseException:\n        pass")
    replies = [block(swallows_the_timeout), block(code)]
    trace = run_strategy("recursive", PROBLEMS[0], ScriptedEngine(replies), {"timeout_s": 0.3})
    first, second = nodes(trace, NodeKind.CODE)
    assert first.meta["state_lost"] and second.meta["error"] is None
    assert trace.final_answer == "3"


def test_printed_value():
    assert printed_value(TurnResult(output="87\n")) == "87"
    assert printed_value(TurnResult(output="Oslo")) == "Oslo"
    assert printed_value(TurnResult(output="87\n", error="NameError")) is None
    assert printed_value(TurnResult(output="1 2\n3")) is None
    assert printed_value(TurnResult(output="889 87")) is None  # which one?
    assert printed_value(TurnResult(output="x" * 41)) is None
    assert printed_value(None) is None and printed_value(TurnResult()) is None
    assert "```python\nfinal(87)\n```" in feedback(TurnResult(output="87\n"), 3)
    assert "final('Oslo')" in feedback(TurnResult(output="Oslo"), 3)
    assert "final(" not in feedback(TurnResult(output="a\nb"), 3).split("turn(s) left")[0]


# -- limits -----------------------------------------------------------------------------------
def test_turn_limit_without_a_final_answer():
    trace = solve(PROBLEMS[0], block("print(len(context))"), max_turns=3)
    assert trace.status == TraceStatus.COMPLETE and trace.final_answer is None
    assert trace.reason == "no final answer after 3 turns"
    assert len(nodes(trace, NodeKind.CODE)) == 3


def test_a_reply_without_code_is_told_so():
    engine = ScriptedEngine(["I think the answer is 12.", block("final(12)")])
    trace = run_strategy("recursive", PROBLEMS[0], engine)
    assert trace.final_answer == "12"
    assert "No ```python code block" in engine.requests[1].prompt
    assert nodes(trace, NodeKind.CODE)[0].meta["error"] == "no code block"


def test_subcall_limit_is_enforced_by_the_parent():
    trace = solve(PROBLEMS[0], lambda r: block("for i in range(5):\n    llm('hi')")
                  if ROOT in r.prompt else "hello", max_subcalls=2, max_turns=1)
    [turn] = nodes(trace, NodeKind.CODE)
    assert "LLMError" in turn.meta["error"] and "at most 2 llm() calls" in turn.meta["error"]
    assert len(nodes(trace, NodeKind.SUBCALL)) == 2 == trace.meta["subcalls"]


def test_token_budget_covers_subcalls_and_stops_the_run():
    answer = " ".join(["word"] * 40)
    trace = solve(PROBLEMS[0], lambda r: block("while True:\n    llm('talk')")
                  if ROOT in r.prompt else answer, budget=150, max_turns=5, timeout_s=2)
    assert trace.compute.generated_tokens <= 150
    assert trace.final_answer is None and trace.reason == "the token budget is spent"
    first = nodes(trace, NodeKind.CODE)[0]
    assert "token budget is spent" in first.meta["error"]
    assert trace.budget == 150  # the smaller of the run's budget and token_budget


def test_a_prompt_too_long_for_the_model_is_refused_with_a_node():
    engine = ScriptedEngine(lambda r: block("llm('Summarise.', context=context)")
                            if ROOT in r.prompt else "summary", n_ctx=2000)
    trace = run_strategy("recursive", PROBLEMS[0], engine, {"max_turns": 1})
    [rejected] = nodes(trace, NodeKind.SUBCALL)
    assert rejected.status == NodeStatus.REJECTED
    assert "pass a shorter piece" in rejected.meta["error"]
    assert "pass a shorter piece" in nodes(trace, NodeKind.CODE)[0].meta["error"]
    assert len(rejected.meta["prompt"]) < 21_000  # clipped in the trace


def test_slow_code_times_out_and_the_run_goes_on():
    replies = [block("while True:\n    pass"), block("final(1)")]
    trace = run_strategy("recursive", PROBLEMS[0], ScriptedEngine(replies), {"timeout_s": 0.3})
    first, second = nodes(trace, NodeKind.CODE)
    assert "TimeoutError" in first.meta["error"] and trace.final_answer == "1"


def test_cancel_during_a_subcall_interrupts_and_kills_the_sandbox():
    cancel = threading.Event()

    def respond(request: ScriptedRequest) -> str:
        if ROOT in request.prompt:
            return block("while True:\n    llm('more')")
        cancel.set()
        return "a b c"

    before = set(Path(tempfile.gettempdir()).glob("lab-sandbox-*"))
    engine = ScriptedEngine(respond)
    trace = run_strategy("recursive", PROBLEMS[0], engine, {"timeout_s": 2}, cancel=cancel)
    assert trace.status == TraceStatus.INTERRUPTED
    assert set(Path(tempfile.gettempdir()).glob("lab-sandbox-*")) <= before


def test_extract_code():
    assert extract_code("x\n```python\nprint(1)\n```\ny") == "print(1)"
    assert extract_code("```\nprint(2)\n```") == "print(2)"
    assert extract_code("```py\nprint(3)") == "print(3)"  # cut at the token limit
    assert extract_code("no code") is None and extract_code("```python\n\n```") is None


def test_an_ordinary_problem_is_its_own_context():
    problem = Problem(id="p", question="What is 6 times 7?", gold="42")
    trace = solve(problem, block("final(6 * 7)"))
    assert trace.final_answer == "42"
    assert "What is 6 times 7?" in trace.nodes[0].text


@pytest.mark.parametrize("bad", [{"max_depth": 0}, {"timeout_s": 0}, {"max_turns": 31}])
def test_parameters_are_range_checked(bad: dict):
    from lab.strategies.params import ParamError

    with pytest.raises(ParamError):
        run_strategy("recursive", PROBLEMS[0], ScriptedEngine("x"), bad)


def test_runs_on_the_real_engine(smollm_engine):
    """The real model's replies go through the sandbox; whatever it writes, the run ends
    cleanly within its limits (SmolLM2-135M rarely writes working code)."""
    trace = run_strategy("recursive", PROBLEMS[0], smollm_engine,
                         {"max_turns": 1, "max_tokens": 32, "subcall_tokens": 8,
                          "max_subcalls": 2, "timeout_s": 2})
    assert trace.status == TraceStatus.COMPLETE, trace.error
    [turn] = nodes(trace, NodeKind.CODE)
    assert turn.tokens and "error" in turn.meta
    assert trace.compute.generated_tokens <= 32 + 2 * 8
