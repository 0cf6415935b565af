"""The stand-in package ``imagine_standins.discord`` never shadows the real ``discord`` library."""

from __future__ import annotations

import sys
from pathlib import Path

import discord

import imagine_standins.discord as stand_in


def test_import_discord_is_discord_py() -> None:
    """``import discord`` here, inside the stand-in package, still gets discord.py."""
    assert discord is sys.modules["discord"]
    assert discord is not stand_in
    assert hasattr(discord, "Client") and hasattr(discord, "__version__")
    assert "site-packages" in Path(discord.__file__).parts
    assert stand_in.__name__ == "imagine_standins.discord"
