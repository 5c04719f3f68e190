"""Built-in sets, file loaders and `lab problems`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli import main
from lab.tasks import arith, digits
from lab.tasks.datasets import (
    BUILTIN_SETS,
    BuiltinSet,
    ProblemSetError,
    build_sets,
    list_sets,
    load_set,
    load_set_result,
)
from lab.tasks.grading import check_problem
from lab.tasks.problem import AnswerKind, Problem


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["problems", *args])
    return result.exit_code, result.output


# --- built-in sets ---------------------------------------------------------------------

OWN_SETS = ("arith", "game24", "digits")


@pytest.fixture
def small_sets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Tiny stand-ins for the built-in sets, with data/ in a temporary folder."""
    for name, build in {
        "arith": lambda: arith.generate(4, seed=1),
        "digits": lambda: digits.generate(4, seed=1),
    }.items():
        monkeypatch.setitem(BUILTIN_SETS, name, BuiltinSet(name, "small", build))
    for name in set(BUILTIN_SETS) - {"arith", "digits"}:
        monkeypatch.delitem(BUILTIN_SETS, name)
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    return tmp_path


def test_committed_data_equals_the_generators() -> None:
    assert build_sets(check_only=True) == dict.fromkeys(BUILTIN_SETS, True)


@pytest.mark.parametrize("name", list(BUILTIN_SETS))
def test_every_gold_answer_passes_and_a_wrong_one_fails(name: str) -> None:
    problems = load_set(name)
    assert problems
    for problem in problems:
        assert problem.source == name
        assert problem.id.startswith(f"{name}-")
        assert isinstance(problem.difficulty, float)
        result = check_problem(problem)
        assert result.ok, (problem.id, result.detail)


def test_builtin_ids_and_limits() -> None:
    problems = load_set("arith", limit=3)
    assert [p.id for p in problems] == ["arith-0001", "arith-0002", "arith-0003"]
    assert load_set("digits", limit=0) == []


def test_difficulties_are_mixed() -> None:
    assert {p.metadata["steps"] for p in load_set("arith")} == {1, 2, 3, 4, 5}
    assert {p.metadata["digits"] for p in load_set("digits")} == {2, 3, 4, 5, 6}
    assert {p.metadata["operation"] for p in load_set("digits")} == {"+", "*"}
    assert {round(p.difficulty) for p in load_set("game24")} == {1, 2, 3, 4, 5}


def test_generators_take_parameters_and_are_seeded() -> None:
    hard = arith.generate(5, seed=3, steps=5, max_value=1000)
    assert all(p.metadata["steps"] == 5 and p.metadata["max_value"] == 1000 for p in hard)
    assert all(p.metadata["solution"].count("\n") == 5 for p in hard)
    assert arith.generate(5, seed=3, steps=5, max_value=1000) == hard
    assert arith.generate(5, seed=4, steps=5, max_value=1000) != hard
    (product,) = digits.generate(1, seed=1, digits=4, operations=("*",))
    a, b = product.metadata["operands"]
    assert len(str(a)) == 4 and len(str(b)) == 2 and product.gold == str(a * b)


def test_list_sets() -> None:
    rows = {row["name"]: row for row in list_sets()}
    for name in OWN_SETS:
        assert rows[name]["count"] == 150 and rows[name]["description"]


def test_build_writes_the_files(small_sets: Path) -> None:
    assert build_sets() == {"arith": False, "digits": False}
    assert build_sets(check_only=True) == {"arith": True, "digits": True}
    assert load_set("digits") == digits.generate(4, seed=1)
    (small_sets / "arith.jsonl").write_text("", encoding="utf-8")
    assert build_sets(check_only=True) == {"arith": False, "digits": True}


def test_missing_builtin_file(small_sets: Path) -> None:
    with pytest.raises(ProblemSetError, match="run `lab problems build`"):
        load_set("arith")
    assert {row["count"] for row in list_sets()} == {0}


# --- file loaders ----------------------------------------------------------------------


def write_lines(path: Path, lines: list[object]) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_gsm8k_file(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "g.jsonl",
        [
            {"question": "Q1?", "answer": "2 + 2 = <<2+2=4>>4\n#### 4"},
            "{not json",
            {"answer": "#### 3"},
            {"question": "Q4?", "answer": "no final line"},
            "",
            {"question": "Q6?", "answer": "It is 1,000.\n#### 1,000"},
        ],
    )
    errors: list[str] = []
    problems = load_set(f"gsm8k:{path}", on_error=errors.append)
    assert [(p.id, p.gold) for p in problems] == [("g-00001", "4"), ("g-00006", "1,000")]
    assert problems[0].kind == AnswerKind.NUMBER and problems[0].source == f"gsm8k:{path}"
    assert problems[0].metadata["solution"].endswith("#### 4")
    assert errors == [
        "g.jsonl line 2: not valid JSON (Expecting property name enclosed in double quotes "
        "at column 2)",
        "g.jsonl line 3: field 'question' is missing or empty",
        "g.jsonl line 4: field 'answer' does not end with '#### <final answer>'",
    ]


def test_math500_file(tmp_path: Path) -> None:
    record = {"problem": "P?", "solution": r"so \boxed{\frac12}.", "answer": r"\frac{1}{2}",
              "level": 3, "subject": "Algebra", "unique_id": "test/algebra/1.json"}  # fmt: skip
    path = write_lines(
        tmp_path / "m.jsonl", [record, {**record, "level": "high"}, {"problem": "?"}]
    )
    result = load_set_result(f"math500:{path}")
    (problem,) = result.problems
    assert problem.id == "test/algebra/1.json"
    assert problem.kind == AnswerKind.MATH and problem.difficulty == 3.0
    assert problem.metadata["subject"] == "Algebra"
    assert result.errors == [
        "m.jsonl line 2: field 'level' is not a number",
        "m.jsonl line 3: field 'answer' is missing or empty",
    ]


def test_generic_jsonl_and_csv(tmp_path: Path) -> None:
    jsonl = write_lines(
        tmp_path / "own.jsonl",
        [{"prompt": "2+2?", "target": "4"}, {"prompt": "Capital of France?", "target": "Paris"},
         {"prompt": "Root?", "target": r"\sqrt{2}"}, {"prompt": "Mine?"}],
    )  # fmt: skip
    problems = load_set(f"jsonl:{jsonl}")
    assert [(p.question, p.gold, p.kind) for p in problems] == [
        ("2+2?", "4", AnswerKind.NUMBER),
        ("Capital of France?", "Paris", AnswerKind.TEXT),
        ("Root?", r"\sqrt{2}", AnswerKind.MATH),
        ("Mine?", None, AnswerKind.NUMBER),
    ]
    table = tmp_path / "own.csv"
    table.write_text(
        "q,a,extra\nWhat is 3*3?,9,x\n,5,y\nHow many?,7,z,overflow\n", encoding="utf-8"
    )
    result = load_set_result(f"csv:{table}", question_field="q", answer_field="a", kind="math")
    assert [(p.question, p.gold, p.kind, p.metadata["extra"]) for p in result.problems] == [
        ("What is 3*3?", "9", AnswerKind.MATH, "x")
    ]
    assert result.errors == [
        "own.csv line 3: field 'q' is missing or empty",
        "own.csv line 4: more cells than columns",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "unknown problem set 'nope'"),
        ("gsm8k", "gsm8k needs a file: gsm8k:PATH"),
        ("parquet:x.parquet", "unknown problem set"),
        ("gsm8k:/no/such/file.jsonl", "no such file: /no/such/file.jsonl"),
        ("jsonl:hf://datasets/x", "expected hf://datasets/OWNER/NAME/FILE"),
        ("jsonl:hf://datasets/a/b/c.parquet", "only .jsonl and .csv"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ProblemSetError, match="^" + message.split("'")[0]) as caught:
        load_set(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_hub_without_network_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ProblemSetError) as caught:
        load_set("gsm8k:hf://datasets/openai/gsm8k/main/test.jsonl")
    assert "Hugging Face hub" in str(caught.value) and "\n" not in str(caught.value)


def test_problem_round_trip() -> None:
    problem = load_set("game24", limit=1)[0]
    assert Problem.from_dict(json.loads(json.dumps(problem.to_dict()))) == problem


# --- the CLI ---------------------------------------------------------------------------


def test_cli_list_and_show() -> None:
    code, output = run("list")
    assert code == 0 and "arith" in output and "game24" in output and "digits" in output
    code, output = run("list", "--json")
    assert set(OWN_SETS) <= {row["name"] for row in json.loads(output)}
    code, output = run("show", "digits", "--limit", "3", "--json")
    assert code == 0 and [p["id"] for p in json.loads(output)] == [
        "digits-0001", "digits-0002", "digits-0003"
    ]  # fmt: skip
    code, output = run("show", "arith", "--limit", "2")
    assert code == 0 and "arith-0002" in output and "arith-0003" not in output


def test_cli_check_builtin() -> None:
    code, output = run("check", "game24")
    assert code == 0
    assert output.strip().splitlines()[-1] == "agree: 150/150 (100.0%)"


def test_cli_check_prints_failures_last_line_agree(tmp_path: Path) -> None:
    good = {"problem": "P", "solution": r"\boxed{5}", "answer": "5"}
    bad = {"problem": "P", "solution": r"\boxed{6}", "answer": "5", "unique_id": "bad-1"}
    path = write_lines(tmp_path / "m.jsonl", [good, bad, "oops"])
    result = CliRunner().invoke(main, ["problems", "check", f"math500:{path}"])
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "agree: 1/2 (50.0%)"
    assert any(line.startswith("FAIL bad-1:") for line in lines)
    assert result.exit_code == 1
    code, _ = run("check", f"math500:{path}", "--min-agree", "50")
    assert code == 0


def test_cli_errors_are_one_line() -> None:
    code, output = run("show", "nope")
    assert code != 0 and output.startswith("Error: unknown problem set")
    code, output = run("check", "csv:/no/such.csv")
    assert code != 0 and "no such file" in output


def test_cli_build(small_sets: Path) -> None:
    code, output = run("build", "--check")
    assert code == 1 and "arith: differs" in output
    code, output = run("build")
    assert code == 0 and "arith: written" in output
    code, output = run("build", "--check")
    assert code == 0 and "arith: up to date" in output


# --- the proofs on the shared reference data ---------------------------------------------


def test_gsm8k_solutions_agree_with_their_final_answers(shared_data: Path) -> None:
    code, output = run("check", f"gsm8k:{shared_data / 'gsm8k_train.jsonl'}")
    assert code == 0
    assert output.strip().splitlines()[-1] == "agree: 7473/7473 (100.0%)"


def test_math500_boxed_answers_agree_with_the_answer_field(shared_data: Path) -> None:
    code, output = run(
        "check", f"math500:{shared_data / 'math500_test.jsonl'}", "--min-agree", "99"
    )
    assert code == 0
    last = output.strip().splitlines()[-1]
    agree, total = map(int, last.split()[1].split("/"))
    assert total == 500 and agree >= 495
