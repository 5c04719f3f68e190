"""The sandbox's REPL: state across turns, output capping, the llm() bridge, limits, cleanup."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from lab.sandbox import LLMRefused, Sandbox, SandboxLimits
from lab.sandbox.process import MAX_PROMPTS, namespace_prefix

FAST = SandboxLimits(timeout_s=0.5, grace_s=0.5, cpu_s=20, output_chars=200)


def echo(prompts: list[str], context: str | None) -> list[str]:
    return [f"<{p}|{len(context) if context is not None else '-'}>" for p in prompts]


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox("alpha\nbeta\ngamma\n", echo, FAST) as sandbox:
        yield sandbox


def test_variables_persist_and_the_last_expression_is_shown(box: Sandbox):
    assert box.run("lines = context.splitlines()\nprint(len(lines))").output == "3\n"
    result = box.run("lines[1].upper()")
    assert result.output == "'BETA'\n" and result.error is None
    assert box.run("x = None\nx").output == ""  # None is not echoed, like a REPL


def test_errors_come_back_as_text_with_the_line(box: Sandbox):
    result = box.run("a = 1\nb = a / 0")
    assert "ZeroDivisionError" in result.error and "b = a / 0" in result.error
    syntax = box.run("def (")
    assert "SyntaxError" in syntax.error and not syntax.state_lost
    assert box.run("a").output == "1\n"  # the REPL survived both


def test_output_is_capped(box: Sandbox):
    result = box.run("print('x' * 5000)")
    assert result.output.startswith("x" * 200) and "more characters cut" in result.output
    assert len(result.output) < 300


def test_llm_and_llm_batch_go_through_the_parent(box: Sandbox):
    assert box.run("llm('hi')").output == "'<hi|->'\n"
    assert box.run("llm('q', context='abcd')").output == "'<q|4>'\n"
    assert box.run("llm_batch(['a', 'b'])").output == "['<a|->', '<b|->']\n"
    assert box.run("llm_batch([])").output == "[]\n"


def test_refusals_raise_llm_error_in_the_code():
    def refuse(prompts: list[str], context: str | None) -> list[str]:
        raise LLMRefused("the token budget is spent")

    with Sandbox("", refuse, FAST) as sandbox:
        result = sandbox.run("try:\n    llm('x')\n"
                             "except Exception as e:\n    print(type(e).__name__, e)")
        assert result.output == "LLMError the token budget is spent\n"
        too_many = sandbox.run(f"llm_batch(['x'] * {MAX_PROMPTS + 1})")
        assert f"at most {MAX_PROMPTS} prompts" in too_many.error


def test_model_time_does_not_count_against_the_turn():
    def slow(prompts: list[str], context: str | None) -> list[str]:
        time.sleep(0.25)
        return ["ok"] * len(prompts)

    with Sandbox("", slow, FAST) as sandbox:
        result = sandbox.run("[llm('a') for _ in range(3)]")  # 0.75 s of model time, 0.5 s limit
        assert result.error is None and result.output == "['ok', 'ok', 'ok']\n"
        assert result.llm_s >= 0.7 and result.code_s < 0.5


def test_final_sets_the_answer(box: Sandbox):
    assert box.run("n = 41").final is None
    assert box.run("final(n + 1)").final == "42"


def test_exceptions_from_the_handler_kill_the_child_and_propagate():
    class Cancelled(Exception):
        pass

    def cancel(prompts: list[str], context: str | None) -> list[str]:
        raise Cancelled

    with Sandbox("", cancel, FAST) as sandbox:
        with pytest.raises(Cancelled):
            sandbox.run("llm('x')")
        assert sandbox.run("1 + 1").output.endswith("2\n")  # a fresh child


def test_only_the_standard_library_and_no_environment():
    with Sandbox("", echo, FAST) as sandbox:
        assert "not allowed" in sandbox.run("import numpy").error
        assert "not allowed" in sandbox.run("import lab").error
        env = sandbox.run("import random\nsorted(random._os.environ)").output
        assert env == "['LANG', 'PATH']\n"


def test_the_working_directory_is_fresh_and_removed():
    with Sandbox("", echo, FAST) as sandbox:
        sandbox.run("1")
        workdir = sandbox.workdir
        assert workdir.is_dir() and not any(workdir.iterdir())
        assert sandbox.run("import random\nrandom._os.getcwd()").output == f"{str(workdir)!r}\n"
    assert not workdir.exists()


@pytest.mark.skipif(not namespace_prefix(), reason="this machine allows no namespaces")
def test_isolation_is_reported():
    with Sandbox("", echo, FAST) as sandbox:
        sandbox.run("1")
        isolation = sandbox.isolation
    assert isolation["namespaces"] and isolation["pid_in_sandbox"] == 1
    if os.geteuid() == 0:
        assert isolation["dropped_privileges"] and isolation["uid"] == 65534
        assert isolation["no_new_privs"]
