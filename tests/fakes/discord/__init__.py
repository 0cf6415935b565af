"""A local Discord stand-in (REST and gateway) strict enough to run discord.py against.

``FakeDiscord`` serves both; ``point_discord_py_at`` redirects discord.py to it. The pytest
fixtures are in ``tests.fakes.discord.fixtures``. This package is only ever imported as
``tests.fakes.discord``, so ``import discord`` still gets discord.py everywhere, inside this
package too (``test_layout.py`` checks it).
"""

from tests.fakes.discord.records import InteractionRecord, RecordedRequest, StoredMessage
from tests.fakes.discord.server import FakeDiscord, point_discord_py_at

__all__ = [
    "FakeDiscord",
    "InteractionRecord",
    "RecordedRequest",
    "StoredMessage",
    "point_discord_py_at",
]
