"""The shape of the house: no import cycle, arrows point inward (docs/ENGINEERING.md).

The graph is read from the source with `ast`: every `import` and `from ... import` of the four
packages, at the top of a module or inside a function (a lazy import is an arrow too), except
those under `if TYPE_CHECKING:` (they name a type and never run). `from pkg import name` points at
`pkg.name` when that is a module, else at `pkg`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = "vision_ledger"
DOORS = ("api", "ussd", "sms")

# The only arrows from one door to another: the app factory registers the USSD and SMS blueprints
# and hands the SMS workers' heartbeat gauge to /metrics; the command line carries each door's
# commands; the operators' outbox routes of the API stand on the SMS door's outbox service.
DOOR_TO_DOOR = {
    ("api.app", "ussd.web"),
    ("api.app", "sms.web"),
    ("api.app", "sms.heartbeat"),
    ("api.cli", "ussd.cli"),
    ("api.cli", "sms.cli"),
    ("api.views.outbox", "sms.outbox"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in (CORE, *DOORS):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs, however deep; not those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _target(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the four packages it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                if node.level:
                    here = package[: len(package) - node.level + 1]
                    base = ".".join(here + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                wanted = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                          for alias in node.names]
            for target in filter(None, (_target(w, modules) for w in wanted)):
                if target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the path being walked, 2 done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def _room(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_no_module_of_the_service_imports_itself_back_through_others(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_core_imports_no_door(graph):
    outward = sorted(f"{m} -> {t}" for m, targets in graph.items() if _room(m) == CORE
                     for t in targets if _room(t) != CORE)
    assert outward == []


def test_doors_import_each_other_only_where_the_app_and_the_command_line_wire_them(graph):
    crossing = {(m, t) for m, targets in graph.items() if _room(m) in DOORS
                for t in targets if _room(t) in DOORS and _room(t) != _room(m)}
    assert sorted(crossing - DOOR_TO_DOOR) == []


def test_the_check_sees_a_lazy_import_and_reports_the_cycle():
    """The checker itself: a cycle closed by an import inside a function is found and named, one
    under TYPE_CHECKING is not an arrow."""
    lazy = ast.parse("def f():\n    from . import b\n")
    typed = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n")
    assert [n.names[0].name for n in _imports(lazy)] == ["b"]
    assert [n.names[0].name for n in _imports(typed)] == ["TYPE_CHECKING"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
