"""The import graph of lab/ has no cycle: every import counts, those under `if TYPE_CHECKING:`
and those inside functions included (a type-only circle is still a circle in the design).

Each module's imports are read with `ast`: `import lab.x.y` is an edge to lab.x.y,
`from lab.x import y` to lab.x.y when that is a module and to lab.x otherwise, relative imports
are resolved against the importing module's package, and a package (lab/x/__init__.py) is the
module lab.x. Only edges between lab's own modules are kept; a package's submodule importing the
package itself is an edge like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent / "lab"
MAX_CYCLES = 100  # listed in a failure; a bigger tangle is named by its components anyway


def module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def lab_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(LAB.rglob("*.py"))}


def imported_modules(source: str, module: str, is_package: bool,
                     known: Iterable[str]) -> set[str]:
    """The modules among `known` that `source` (the text of `module`) imports, anywhere in it."""
    known = set(known)
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source_module = ".".join(p for p in (base, node.module) if p)
            else:
                source_module = node.module or ""
            for alias in node.names:
                submodule = f"{source_module}.{alias.name}"
                found.add(submodule if submodule in known else source_module)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    known = lab_modules()
    return {name: imported_modules(path.read_text(), name, path.name == "__init__.py", known)
            for name, path in known.items()}


def components(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def cycles(graph: Mapping[str, set[str]], limit: int = MAX_CYCLES) -> list[list[str]]:
    """The simple cycles (each from its smallest module, at most `limit` of them)."""
    found: list[list[str]] = []
    for component in components(graph):
        members = set(component)
        for start in component:
            path = [start]
            todo = [iter(sorted(graph[start] & members))]
            while todo and len(found) < limit:
                nxt = next(todo[-1], None)
                if nxt is None:
                    todo.pop()
                    path.pop()
                elif nxt == start:
                    found.append([*path, start])
                elif nxt > start and nxt not in path:
                    path.append(nxt)
                    todo.append(iter(sorted(graph[nxt] & members)))
    return found


def test_the_parser_counts_every_kind_of_import():
    known = {"lab", "lab.a", "lab.a.b", "lab.a.c", "lab.d", "lab.e", "lab.f", "lab.g"}
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import os\n"
        "from . import c\n"  # relative: lab.a.c (a module)
        "from .. import d\n"  # lab.d
        "if TYPE_CHECKING:\n"
        "    from lab.e import Thing\n"  # not a module: lab.e
        "def late():\n"
        "    import lab.f\n"
        "    from lab import g, __version__\n"  # lab.g and lab (its __init__)
    )
    assert imported_modules(source, "lab.a.b", False, known) == {
        "lab.a.c", "lab.d", "lab.e", "lab.f", "lab.g", "lab"}
    # in a package's __init__, `from . import b` is its own submodule
    assert imported_modules("from . import b\nfrom .b import x\n", "lab.a", True,
                            known) == {"lab.a.b"}


def test_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "d": {"a"}}
    assert components(graph) == [["a", "b", "c"]]
    assert cycles(graph) == [["a", "b", "a"], ["a", "b", "c", "a"]]


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50 and graph["lab.store.ledger"]  # the modules were found and read
    found = cycles(graph)
    assert not found, "import cycles (TYPE_CHECKING and function-local imports included):\n" + (
        "\n".join(" -> ".join(cycle) for cycle in found))
