"""Tests for the shape of bot/kie: no import circles, no discord."""

from __future__ import annotations

import ast
from pathlib import Path

import bot.kie

PACKAGE = Path(bot.kie.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Map each bot.kie module to the bot.kie modules it imports, type-only ones included."""
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target == "bot.kie":
                    found.add("__init__")
                elif target.startswith("bot.kie.") and target.split(".")[2] in modules:
                    found.add(target.split(".")[2])
        graph[name] = found - {name}
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    """The import graph of bot/kie has no circle, direct or longer."""
    graph = _imports()
    assert "retry" in graph and "errors" in graph
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        """Walk the imports depth-first, failing on a module already on the path."""
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_errors_is_a_leaf() -> None:
    """errors.py imports nothing else from bot.kie, so everything may import it."""
    assert _imports()["errors"] == set()


def test_no_discord_import() -> None:
    """The kie client never imports discord."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "discord" for n in names), path.name
