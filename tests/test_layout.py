"""The package's layout: modules that import each other in one direction only, files short
enough to read whole, and no object that changes its class after creation. Read from
the source tree with ast; nothing here imports zmqffi."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "zmqffi"
MAX_LINES = 450


def sources() -> dict[str, ast.Module]:
    """module name -> parsed source, for every zmqffi/*.py."""
    modules = {}
    for path in sorted(PACKAGE.glob("*.py")):
        name = "zmqffi" if path.stem == "__init__" else f"zmqffi.{path.stem}"
        modules[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return modules


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(module_name: str, tree: ast.Module) -> set[str]:
    """The modules that importing ``module_name`` imports: its import statements run
    at import time (also in classes, ``if`` and ``try`` blocks), not those in functions
    or under ``if TYPE_CHECKING:``."""
    package = module_name if module_name == "zmqffi" else module_name.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.If) and is_type_checking(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from .x import y
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                found.add(base)
                # ``from zmqffi import socket`` imports the module zmqffi.socket
                found.update(f"{base}.{alias.name}" for alias in node.names)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if inner:
                    visit(inner)

    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = sources()
    return {name: module_level_imports(name, tree) & modules.keys() - {name}
            for name, tree in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None."""
    done: set[str] = set()
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph[node]):
            cycle = walk(target)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = walk(start)
        if cycle:
            return cycle
    return None


def test_the_package_has_the_modules_of_its_layout() -> None:
    # (so that the checks below cannot pass by reading nothing)
    assert {"zmqffi", "zmqffi.socket", "zmqffi.context", "zmqffi._state", "zmqffi.options",
            "zmqffi.validation", "zmqffi.monitor", "zmqffi.draft"} <= sources().keys()


def test_modules_import_each_other_without_a_cycle() -> None:
    graph = import_graph()
    assert "zmqffi._state" in graph["zmqffi.socket"]  # the graph sees real imports
    assert "zmqffi.context" not in graph["zmqffi.socket"]  # TYPE_CHECKING only
    cycle = find_cycle(graph)
    assert cycle is None, f"module-level import cycle: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = import_graph()
    graph["zmqffi._state"] = graph["zmqffi._state"] | {"zmqffi.socket"}
    assert find_cycle(graph) is not None
    tree = ast.parse("import zmqffi.context\nif TYPE_CHECKING:\n    import zmqffi.poll\n"
                     "def f():\n    from zmqffi import devices\n")
    assert module_level_imports("zmqffi.socket", tree) == {"zmqffi.context"}


def test_no_module_is_over_450_lines() -> None:
    lengths = {path.name: len(path.read_text(encoding="utf-8").splitlines())
               for path in PACKAGE.glob("*.py")}
    assert lengths
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"over {MAX_LINES} lines: {too_long}"


def test_no_object_changes_its_class() -> None:
    """An object's class is chosen when it is made (Context.socket() picks the class),
    never changed afterwards by assigning ``__class__``."""
    found = []
    for name, tree in sources().items():
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "setattr" and len(node.args) > 1
                  and isinstance(node.args[1], ast.Constant)
                  and node.args[1].value == "__class__"):
                found.append(f"{name}:{node.lineno}")
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and part.attr == "__class__":
                        found.append(f"{name}:{node.lineno}")
    assert not found, f"__class__ assigned at {found}"
