"""The packages are layers: each imports only the layers below it, counting imports inside functions.

    theory  <-  bounds, empirics  <-  experiments  <-  eigennas (the application)

The graph is read from the source (every ``import`` / ``from ... import`` anywhere in a module, inside
functions included), so an import hidden in a function to dodge a cycle still counts. Function-level
imports are allowed only for optional or heavy third-party modules, each with a comment saying why.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("theory", "bounds", "empirics", "experiments", "eigennas")
#: which packages each package may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "theory": set(),
    "bounds": {"theory"},
    "empirics": {"theory"},
    "experiments": {"theory", "empirics"},
    "eigennas": {"theory", "bounds", "empirics", "experiments"},
}
#: third-party modules that may be imported inside a function (optional or heavy), and where
LAZY_OK: dict[str, set[str]] = {
    "torch": {"theory"},  # theory's activations give a torch form without making theory need torch
    "matplotlib": set(PACKAGES),
    "nats_bench": set(PACKAGES),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import statement of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    mod = _module_name(path)
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = mod.split(".")
                    if path.name != "__init__.py":
                        base = base[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                out.append((target, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return out


def _files() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 40, "the packages were not found"
    return files


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for path in _files():
        src = path.relative_to(ROOT).parts[0]
        for target, _, _ in _imports(path):
            top = target.split(".")[0]
            if top in PACKAGES and top != src:
                graph[src].add(top)
    return graph


def test_each_package_imports_only_the_layers_below():
    bad = []
    for path in _files():
        src = path.relative_to(ROOT).parts[0]
        for target, line, _ in _imports(path):
            top = target.split(".")[0]
            if top in PACKAGES and top != src and top not in ALLOWED[src]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_the_package_graph_has_no_cycle():
    graph = _package_graph()
    state: dict[str, int] = {}

    def dfs(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, nxt]))
            if nxt not in state:
                dfs(nxt, stack + [node])
        state[node] = 2

    for p in PACKAGES:
        if p not in state:
            dfs(p, [])
    # the graph is also non-trivial: the application sits on every layer
    assert graph["eigennas"] >= {"theory", "bounds", "empirics", "experiments"}


def test_function_level_imports_are_only_optional_or_heavy_modules_with_a_reason():
    bad = []
    for path in _files():
        src = path.relative_to(ROOT).parts[0]
        lines = path.read_text(encoding="utf-8").splitlines()
        for target, line, inside in _imports(path):
            if not inside:
                continue
            top = target.split(".")[0]
            if src not in LAZY_OK.get(top, set()):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} inside a function")
            elif "#" not in lines[line - 1]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} inside a function without a comment")
    assert not bad, "\n".join(bad)


def test_the_walker_sees_imports_inside_functions(tmp_path):
    """The check above would pass vacuously if the walker missed nested imports: it does not."""
    f = ROOT / "theory" / "activations.py"
    inner = [t for t, _, inside in _imports(f) if inside]
    assert "torch" in inner
    top = {t for t, _, inside in _imports(f) if not inside}
    assert "theory.gaussian" in top
