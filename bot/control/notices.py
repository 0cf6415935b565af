"""Caches of admin settings kept right in every process: a write tells them all to forget.

Several bot processes may share one PostgreSQL database, each with its own caches of channel
settings and blocklists. A write publishes the guild's id (bot/cluster/notify.py) inside its
transaction, so the notice leaves only if the change commits; every process, the writer
included, then forgets what it cached for that guild. After the listening connection was
lost, notices may have been missed, so a RESYNC forgets everything.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.cluster.notify import RESYNC, Notifier
from bot.store.database import Connection

__all__ = ["GuildNotices"]


class GuildNotices:
    """Announce "this guild's settings changed" on `channel`; forget on every such notice."""

    def __init__(
        self,
        notifier: Notifier | None,
        channel: str,
        *,
        forget: Callable[[int], None],
        forget_all: Callable[[], None],
    ) -> None:
        self._notifier = notifier
        self._channel = channel
        self._forget = forget
        self._forget_all = forget_all
        if notifier is not None:
            notifier.subscribe(channel, self._on_notice)

    async def changed(self, tx: Connection, guild_id: int) -> None:
        """Tell every process, once `tx` commits, that the guild's settings changed."""
        if self._notifier is not None:
            await self._notifier.publish(self._channel, str(guild_id), conn=tx)

    def _on_notice(self, payload: str) -> None:
        if payload == RESYNC:
            self._forget_all()
        else:
            self._forget(int(payload))
