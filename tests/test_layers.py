"""The code's structure: each package imports only from its own layer or below (no import
running back up, lazy imports included), and top-level imports form no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent / "lab"

# Lowest first; a module may import from its own layer or any layer before it.
LAYERS = [
    ("lab.config", "lab.plugins"),
    ("lab.tasks", "lab.engine", "lab.models", "lab.pull", "lab.sandbox"),
    ("lab.trace", "lab.prompts", "lab.divergence", "lab.trace_html", "lab.grades", "lab.views"),
    ("lab.scorers",),
    ("lab.strategies",),
    ("lab.store",),
    ("lab.execution",),
    ("lab.evaluation", "lab.worker"),
    ("lab.commands", "lab.ui", "lab.cli"),
]


def layer_of(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("lab.") or name == "lab"}


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in LAB.rglob("*.py")}


def resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def test_no_import_runs_back_up():
    known = modules()
    wrong = []
    for name, path in known.items():
        if name == "lab":
            continue
        for imported in imports(path, top_level_only=False):
            target = resolve(imported, known)
            if target and target != "lab" and layer_of(target) > layer_of(name):
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports running back up:\n" + "\n".join(sorted(set(wrong)))


def test_top_level_imports_form_no_cycle():
    known = modules()
    graph = {name: {t for i in imports(path, top_level_only=True)
                    if (t := resolve(i, known)) and t not in ("lab", name)}
             for name, path in known.items()}
    # a package's __init__ importing its own modules is not a cycle worth naming
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))
