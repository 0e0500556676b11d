"""The package's layout: no import cycles, and the CLI's modules load without torch.

The import graph is read from the source with `ast`: an edge for every `import` and
`from ... import` of a lstmae_cli module, at module level or inside a function (both run).
Imports under `if TYPE_CHECKING:` never run; they are edges of their own kind, and the
cycles they close are listed in TYPE_ONLY_CYCLES, each a real two-way dependency still to
be taken apart (issue 18, "Architecture" 4 and 5), so that no new one comes unnoticed.
A submodule's implicit import of its parent packages is no edge: Python imports the parent
first, whatever the child does.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lstmae_cli"
HEAVY = ("torch", "pandas", "numpy", "scipy", "sklearn", "matplotlib")

# Cycles that only `if TYPE_CHECKING:` imports close: modules that take a Detector (or a
# TrainState) as an argument and read its fitted attributes.
TYPE_ONLY_CYCLES = {
    frozenset({"lstmae_cli.nn.checkpoint", "lstmae_cli.nn.train"}),  # TrainState saved/loaded
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


class Imports(ast.NodeVisitor):
    """Who a module imports: (target, kind), kind one of 'top', 'function', 'typing'."""

    def __init__(self, name: str, is_package: bool) -> None:
        self.package = name if is_package else name.rpartition(".")[0]
        self.found: list[tuple[str, str]] = []
        self.depth = 0  # inside a def
        self.typing = False  # inside `if TYPE_CHECKING:`

    def kind(self) -> str:
        return "typing" if self.typing else "function" if self.depth else "top"

    def visit_FunctionDef(self, node) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            self.typing, was = True, self.typing
            for child in node.body:
                self.visit(child)
            self.typing = was
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, self.kind()))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:  # `from . import distributed` imports a module
            submodule = f"{source}.{alias.name}"
            self.found.append((submodule if submodule in MODULES else source, self.kind()))


def imports_of(name: str) -> list[tuple[str, str]]:
    path = MODULES[name]
    visitor = Imports(name, path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor.found


GRAPH = {name: imports_of(name) for name in MODULES}


def edges(kinds: set[str]) -> dict[str, set[str]]:
    return {
        name: {target for target, kind in found if kind in kinds and target in MODULES}
        for name, found in GRAPH.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:  # noqa: C901 (Tarjan's algorithm, kept whole)
    """The strongly connected components with more than one module, or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_package():
    assert {"lstmae_cli.detector", "lstmae_cli.cli.app", "lstmae_cli.nn.model"} <= set(MODULES)
    assert "lstmae_cli.cli.train" in edges({"top"})["lstmae_cli.cli.app"]
    assert "lstmae_cli.nn.distributed" in edges({"top"})["lstmae_cli.detector"]  # from . import


def test_no_import_cycles():
    assert cycles(edges({"top", "function"})) == []


def test_type_only_cycles_are_the_known_ones():
    typing = edges({"typing"})
    for pair in TYPE_ONLY_CYCLES:  # each still there: else take it off the list
        a, b = sorted(pair)
        assert b in typing[a] or a in typing[b], pair
    graph = edges({"top", "function", "typing"})
    for name, targets in graph.items():
        targets -= {t for t in typing[name] if frozenset({name, t}) in TYPE_ONLY_CYCLES}
    assert cycles(graph) == []


def loaded_with(name: str) -> set[str]:
    """The modules importing `name` runs: its module-level imports, transitively."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        parent = current.rpartition(".")[0]  # a package's __init__ runs first
        todo += [parent] if parent in MODULES else []
        todo += [target for target in edges({"top"})[current]]
    return seen


def test_the_cli_loads_without_torch_pandas_or_numpy():
    for name in loaded_with("lstmae_cli.cli"):
        heavy = {t for t, kind in GRAPH[name] if kind == "top" and t.split(".")[0] in HEAVY}
        assert not heavy, f"{name} imports {heavy} at load time"


def test_params_imports_nothing_heavy():
    """params.py (every choice and default) and what it imports, function-level included."""
    seen, todo = set(), ["lstmae_cli.params"]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += edges({"top", "function"})[current]
    for name in seen:
        heavy = {t for t, kind in GRAPH[name] if kind != "typing" and t.split(".")[0] in HEAVY}
        assert not heavy, f"{name} imports {heavy}"


def test_nothing_below_the_cli_imports_it():
    def in_cli(name: str) -> bool:
        return name == "lstmae_cli.cli" or name.startswith("lstmae_cli.cli.")

    for name, targets in edges({"top", "function", "typing"}).items():
        if not in_cli(name) and name != "lstmae_cli.__main__":
            assert not {t for t in targets if in_cli(t)}, name
