"""The house's import rules: no circles, and no import from a lower room to a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each room may import only from the rooms listed (and from itself). Rooms are matched by
# the longest prefix; the composition root (bot.runtime, bot.imagine_bot) may import all.
ALLOWED: dict[str, set[str]] = {
    "bot.i18n": set(),
    "bot.errors": {"bot.i18n"},
    "bot.settings": set(),
    "bot.logs": set(),
    "bot.credits": set(),
    "bot.metrics": {"bot.credits"},
    "bot.store": set(),
    "bot.kie": {"bot.credits"},
    "bot.images": set(),
    # Messages between processes and shared limits: below the jobs, above the store.
    "bot.cluster": {"bot.store", "bot.kie"},
    "bot.jobs": {
        "bot.cluster",
        "bot.i18n",
        "bot.errors",
        "bot.credits",
        "bot.metrics",
        "bot.store",
        "bot.kie",
        "bot.images",
    },
    "bot.control": {
        "bot.i18n",
        "bot.errors",
        "bot.credits",
        "bot.store",
        "bot.kie",
        "bot.jobs",
        "bot.cluster",
    },
    "bot.web": {"bot.jobs", "bot.kie", "bot.metrics", "bot.store", "bot.cluster"},
    "bot.tree": {"bot.i18n", "bot.errors", "bot.control"},
}
# Rooms that must never import discord.py.
NO_DISCORD = (
    "bot.i18n",
    "bot.errors",
    "bot.credits",
    "bot.settings",
    "bot.store",
    "bot.kie",
    "bot.images",
    "bot.cluster",
    "bot.jobs",
    "bot.control",
    "bot.web",
)

# The stand-ins ship in the package for `python -m bot demo`; only the demo may use them.
STANDINS = "imagine_standins"
STANDIN_USERS = ("bot.demo",)


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("bot", "cogs"):
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Return the project modules `name` imports, TYPE_CHECKING and lazy imports included."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import name`: the submodule pkg.name if there is one, else pkg itself.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _room(name: str) -> str | None:
    rooms = [r for r in ALLOWED if name == r or name.startswith(r + ".")]
    return max(rooms, key=len) if rooms else None


MODULES = _modules()
GRAPH = {name: _imports(name, path, set(MODULES)) for name, path in MODULES.items()}


def test_no_import_circle() -> None:
    """No module reaches itself through its imports (lazy and type-only imports count)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(GRAPH[name]):
            # A package importing its own submodules (re-exports) is not a circle.
            if name.startswith(dep + ".") or dep.startswith(name + "."):
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                pytest.fail("import circle: " + " → ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _room(n)))
def test_imports_only_from_lower_rooms(name: str) -> None:
    """Each module imports only its own room and the rooms below it."""
    room = _room(name)
    assert room is not None
    allowed = ALLOWED[room] | {room}
    wrong = sorted(
        dep for dep in GRAPH[name] if not any(dep == r or dep.startswith(r + ".") for r in allowed)
    )
    assert wrong == [], f"{name} ({room}) imports {wrong}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(NO_DISCORD)))
def test_below_the_discord_side_nothing_imports_discord(name: str) -> None:
    """The kie client, jobs, control, store and web server never import discord.py."""
    tree = ast.parse(MODULES[name].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "discord" for a in node.names), name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            assert (node.module or "").split(".")[0] != "discord", name


def test_cogs_do_not_reach_into_each_others_private_modules() -> None:
    """A cog package's `_private` modules are imported only from inside that package."""
    for name, deps in GRAPH.items():
        for dep in deps:
            parts = dep.split(".")
            if parts[0] == "cogs" and len(parts) > 2 and parts[2].startswith("_"):
                owner = ".".join(parts[:2])
                assert name == owner or name.startswith(owner + "."), f"{name} imports {dep}"


def _standin_imports(source: str) -> list[str]:
    """Return the stand-in modules `source` imports (lazy and type-only imports included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == STANDINS]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found += [node.module] if node.module.split(".")[0] == STANDINS else []
    return found


def test_only_the_demo_imports_the_standins() -> None:
    """bot/ and cogs/ never import imagine_standins, except the demo (bot/demo/)."""
    offenders = {
        name: imported
        for name, path in MODULES.items()
        if not any(name == u or name.startswith(u + ".") for u in STANDIN_USERS)
        and (imported := _standin_imports(path.read_text()))
    }
    assert offenders == {}
    assert any(
        _standin_imports(MODULES[n].read_text()) for n in MODULES if n.startswith("bot.demo")
    )


def test_the_standin_rule_sees_every_kind_of_import() -> None:
    """A lazy import, a `from` import and a plain one are caught; look-alike names are not."""
    source = (
        "import imagine_standins\n"
        "def later():\n"
        "    import imagine_standins.kie as kie\n"
        "    from imagine_standins.discord import FakeDiscord\n"
    )
    assert _standin_imports(source) == [
        "imagine_standins",
        "imagine_standins.kie",
        "imagine_standins.discord",
    ]
    assert _standin_imports("import imagine_standinsx\nfrom .imagine_standins import x\n") == []
