"""No import cycle in the project's own code, with imports inside functions counted,
and no import inside a function that the allow-list below does not explain.

A function-level import is how a cycle hides: the module loads, and the knot stays.
The layers contract (pyproject.toml) covers the core's packages; this covers every
module of the core and the two edges, and keeps the few deliberate lazy imports honest.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import grimp

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("imago_core", "actions", "extensions", "rasa_sdk_plugins")

# (module, imported module) -> why it is imported inside a function. Each must stay true.
DELIBERATE_LAZY_IMPORTS = {
    ("rasa_sdk_plugins", "imago_core.service"):
        "rasa_sdk imports this plugin package on every start, even `rasa run actions` for another "
        "project's actions; the core (and its database settings) loads only when our server starts",
    ("rasa_sdk_plugins", "rasa_sdk_plugins.token_guard"):
        "the same: the guard reads the core's settings, loaded only when our server starts",
}


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _module_graph(*packages: str) -> Dict[str, Set[str]]:
    graph = grimp.build_graph(*packages, cache_dir=None)
    edges: Dict[str, Set[str]] = {}
    for module in graph.modules:
        # A package's __init__ importing its own submodules is how packages expose them,
        # not a cycle between concerns; only imports between modules count.
        edges[module] = {target for target in graph.find_modules_directly_imported_by(module)
                         if not module.startswith(target + ".")}
    return edges


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_project_imports_itself_round_in_a_circle():
    cycles = find_cycles(_module_graph("imago_core", "actions", "extensions"))
    assert cycles == [], "import cycles (function-level imports included):\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles)


def _function_level_imports(path: Path, module: str):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                for alias in inner.names:
                    yield alias.name, inner.lineno
            elif isinstance(inner, ast.ImportFrom):
                if inner.level:  # relative: resolve against this module's package
                    base = module.rsplit(".", inner.level)[0]
                    name = f"{base}.{inner.module}" if inner.module else base
                else:
                    name = inner.module or ""
                yield name, inner.lineno


def _project_modules():
    for package in PROJECT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_project_module_is_imported_inside_a_function_without_a_reason():
    unexplained = []
    for path, module in _project_modules():
        for imported, line in _function_level_imports(path, module):
            if imported.split(".")[0] not in PROJECT_PACKAGES:
                continue  # a third-party import kept out of start-up (onnx, jsonschema) is no cycle
            if (module, imported) not in DELIBERATE_LAZY_IMPORTS:
                unexplained.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert unexplained == [], ("imports inside functions (hoist them, or add them to DELIBERATE_LAZY_IMPORTS "
                               "with the reason):\n" + "\n".join(unexplained))


def test_every_deliberate_lazy_import_still_exists():
    found = {(module, imported) for path, module in _project_modules()
             for imported, _ in _function_level_imports(path, module)}
    assert set(DELIBERATE_LAZY_IMPORTS) <= found, set(DELIBERATE_LAZY_IMPORTS) - found
