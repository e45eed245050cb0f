"""The package's shape, checked: the pipeline's layers (a module imports only from its own layer and the
ones below), no import cycle, no private name used across modules, small modules and functions.

Layers, lowest first (docs/architecture.md): errors -> stats -> metrics -> spec -> data -> tasks ->
backends -> scoring -> checks -> baseline -> sequential -> runner -> report -> session -> plugin.
Imports under `if TYPE_CHECKING:` do not run and are not counted; imports inside functions are.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_misalign"
ROOT = PACKAGE.name
LAYERS = ["errors", "stats", "metrics", "spec", "data", "tasks", "backends", "scoring", "checks", "baseline",
          "sequential", "runner", "report", "session", "plugin"]
TOP = {"plugin", "hookspecs", "__main__"}  # the pytest and command-line entry points: the top layer
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50  # statements and comments, without the docstring


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def layer(module: str) -> int:
    """The module's layer: its subpackage's (or top-level module's) place in LAYERS."""
    parts = module.split(".")
    if len(parts) == 1:  # the package's __init__: only the version
        return 0
    name = "plugin" if parts[1] in TOP else parts[1]
    return LAYERS.index(name)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def imports(module: str) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every project import the module runs."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            if base != ROOT and not base.startswith(ROOT + "."):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.append((full, "", node.lineno) if full in MODULES else (base, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.startswith(ROOT + ".")]
    return out


def test_every_module_belongs_to_a_layer():
    unknown = [m for m in MODULES if len(m.split(".")) > 1 and m.split(".")[1] not in LAYERS + sorted(TOP)]
    assert not unknown, f"modules outside the layers of the pipeline: {unknown} (add them to a layer)"


def test_no_import_from_a_higher_layer():
    upward = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {target} "
              f"({LAYERS[layer(m)]} -> {LAYERS[layer(target)]})"
              for m in MODULES for target, _, line in imports(m) if layer(target) > layer(m)]
    assert not upward, "\n".join(upward)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_find_cycles_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    graph = {m: {target for target, _, _ in imports(m) if target != m} for m in MODULES}
    assert find_cycles(graph) == []


def _private_uses(module: str) -> list[str]:
    found = [f"from {target} import {name}" for target, name, _ in imports(module)
             if name.startswith("_") and not name.startswith("__") and target != module]
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    bound = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             for alias in node.names if node.level or (node.module or "").startswith(ROOT)}
    modules_bound = {n for n in bound if any(m.endswith("." + n) for m in MODULES)}
    found += [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in modules_bound and node.attr.startswith("_") and not node.attr.startswith("__")]
    return found


def test_no_private_name_used_across_modules():
    used = {m: _private_uses(m) for m in MODULES}
    assert {m: u for m, u in used.items() if u} == {}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines (split it: at most {MAX_MODULE_LINES})"


def function_lines(node: ast.FunctionDef, blank: set[int]) -> int:
    """Lines of a function's body, without its docstring and blank lines."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return 0
    return sum(1 for n in range(body[0].lineno, node.end_lineno + 1) if n not in blank)


def long_functions() -> list[str]:
    out = []
    for path in MODULES.values():
        text = path.read_text(encoding="utf-8")
        blank = {i + 1 for i, line in enumerate(text.splitlines()) if not line.strip()}
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = function_lines(node, blank)
                if n > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {n} lines")
    return out


def test_function_lines_by_hand():
    source = 'def f():\n    """doc\n    more."""\n\n    a = 1\n    return a\n'
    (node,) = ast.parse(source).body
    assert function_lines(node, {4}) == 2


def test_functions_are_small():
    assert long_functions() == []
