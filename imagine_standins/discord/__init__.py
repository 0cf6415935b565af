"""A local Discord stand-in (REST and gateway) strict enough to run discord.py against.

``FakeDiscord`` serves both; ``point_discord_py_at`` redirects discord.py to it. The pytest
fixtures are in ``tests.standins.discord.fixtures``. This package is only ever imported as
``imagine_standins.discord``, so ``import discord`` still gets discord.py everywhere, inside this
package too (``test_layout.py`` checks it).
"""

from imagine_standins.discord.records import InteractionRecord, RecordedRequest, StoredMessage
from imagine_standins.discord.server import FakeDiscord, point_discord_py_at

__all__ = [
    "FakeDiscord",
    "InteractionRecord",
    "RecordedRequest",
    "StoredMessage",
    "point_discord_py_at",
]
