"""The package's shape: its import graph has no cycles, counting imports inside functions too, and
every import runs from a layer to itself or a lower one, as ``docs/architecture.md`` lists them.

A module that needs to call "up" is a sign that the function belongs to the upper module.
"""

from __future__ import annotations

import ast
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

import augsearch

PACKAGE = Path(augsearch.__file__).parent
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the augsearch modules it imports (any import statement, at any depth)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module if not node.level else _relative(name, path, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _relative(name: str, path: Path, node: ast.ImportFrom) -> str:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = package[:len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycles():
    graph = import_graph()
    assert len(graph) > 20  # the walk found the package
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def layers(text: str) -> list[list[str]]:
    """The layer list of ``docs/architecture.md``: one list of module patterns per numbered line
    between the two markers, lowest first (``search.*`` stands for every module of the package)."""
    block = text.split("<!-- layers:")[1].split("<!-- end of layers -->")[0]
    found = []
    for line in block.splitlines():
        if re.match(r"\d+\. ", line):
            found.append([f"augsearch.{name}" if name != "augsearch" else name
                          for name in re.findall(r"`([\w.*]+)`", line.split(":")[0])])
    return found


def layer_of(module: str, order: list[list[str]]) -> list[int]:
    """The layers that name ``module``: by its own name, else by a pattern (``viz.cli`` is a command
    while the rest of ``viz.*`` draws)."""
    named = [i for i, patterns in enumerate(order) if module in patterns]
    return named or [i for i, patterns in enumerate(order) if any(fnmatch(module, p) for p in patterns)]


@pytest.fixture(scope="module")
def order() -> list[list[str]]:
    found = layers(ARCHITECTURE.read_text())
    assert len(found) > 10, "docs/architecture.md lists the layers"
    return found


def test_every_module_is_in_exactly_one_layer(order):
    for module in import_graph():
        assert len(layer_of(module, order)) == 1, f"{module} must be in one layer of docs/architecture.md"


def test_no_import_runs_from_a_lower_layer_up(order):
    graph = import_graph()
    upward = [(m, t) for m, targets in graph.items() for t in targets
              if layer_of(t, order)[0] > layer_of(m, order)[0]]
    assert upward == []


def test_the_layer_check_finds_an_upward_import():
    order = layers("<!-- layers: x -->\n1. `errors`: low\n2. `search.*`, `viz`: high\n<!-- end of layers -->")
    assert order == [["augsearch.errors"], ["augsearch.search.*", "augsearch.viz"]]
    assert layer_of("augsearch.search.run", order) == [1] and layer_of("augsearch.errors", order) == [0]
    assert layer_of("augsearch.ops", order) == []
    assert layer_of("augsearch.viz.cli", [["augsearch.viz.*"], ["augsearch.viz.cli"]]) == [1]
