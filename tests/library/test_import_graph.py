"""core.library's modules import each other without a cycle.

Every import counts, including those under ``TYPE_CHECKING`` and inside
functions: a cycle there is still two modules that cannot be read, changed or
tested one without the other.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

PACKAGE = "core.library"


def _imports(path: Path, module: str) -> set[str]:
    """The modules of this package that ``module`` (at ``path``) imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (importlib.util.resolve_name("." * node.level + (node.module or ""), module)
                    if node.level else node.module or "")
            found.add(base)
            # ``from core.library import indexing`` names a submodule.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (the package's ``__init__`` is left out:
    it only re-exports)."""
    spec = importlib.util.find_spec(PACKAGE)  # finds the folder without running the package
    assert spec is not None and spec.origin is not None
    paths = {f"{PACKAGE}.{p.stem}": p for p in Path(spec.origin).parent.glob("*.py")
             if p.stem != "__init__"}
    return {module: (_imports(path, module) & set(paths)) - {module}
            for module, path in sorted(paths.items())}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path of modules (first == last), or ``None``."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node, [])
        if cycle:
            return cycle
    return None


def test_core_library_has_no_import_cycle() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.library" in graph and f"{PACKAGE}.indexing" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: the finder reports a planted cycle."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
