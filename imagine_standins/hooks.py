"""Fault injection for the stand-ins: run an action when a matching request comes in.

Both stand-ins offer ``fake.on_request(match, when=..., action=..., times=1)``:

* ``match`` picks the requests (a route or endpoint name, or a predicate on the stand-in's
  recorded request);
* ``when="before"``: the stand-in has received the request and acted on it (a message is
  stored, a task is made) and has decided its answer, but has not sent it yet; the action
  runs, then the answer goes out (to nobody, if the action killed the client);
* ``when="after"``: the answer has been written to the client; then the action runs;
* ``action(record)`` may return an awaitable, which is awaited before the stand-in goes on
  (so "kill the bot and wait until it is dead" really happens before the answer is sent);
* ``times``: how many matching requests fire the hook (None: every one).

The stand-ins stay exactly as strict as without hooks: a hook never changes an answer. An
action or predicate that raises is logged and kept in ``Hook.errors`` (and the stand-in's
own error list), never turned into a different answer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

__all__ = ["Hook", "Hooks", "When"]

log = logging.getLogger(__name__)

R = TypeVar("R")
When = Literal["before", "after"]
WHEN: tuple[When, ...] = ("before", "after")


@dataclass(eq=False)
class Hook(Generic[R]):
    """One registered action; ``fired`` holds the records it fired on, in order."""

    matches: Callable[[R], bool]
    when: When
    action: Callable[[R], Any]
    times: int | None
    description: str = ""
    fired: list[R] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    #: Set once the action of the first firing has completed.
    done: asyncio.Event = field(default_factory=asyncio.Event)
    active: bool = True

    @property
    def exhausted(self) -> bool:
        """Return True when the hook will not fire again."""
        return not self.active or (self.times is not None and len(self.fired) >= self.times)

    def cancel(self) -> None:
        """Stop the hook from firing again."""
        self.active = False

    async def wait(self, timeout: float = 10.0) -> R:
        """Wait until the hook fired and its action completed; return the first record."""
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"hook {self.description or self.matches!r} ({self.when}) did not fire "
                f"within {timeout} s"
            ) from None
        return self.fired[0]

    def __repr__(self) -> str:
        return (
            f"Hook({self.description or self.matches!r}, when={self.when!r}, "
            f"fired={len(self.fired)}/{self.times})"
        )


class Hooks(Generic[R]):
    """The hooks of one stand-in."""

    def __init__(self, errors: list[BaseException] | None = None) -> None:
        self._hooks: list[Hook[R]] = []
        #: Where action and predicate exceptions are also reported (the stand-in's list).
        self._errors = errors

    def add(
        self,
        matches: Callable[[R], bool],
        *,
        when: When,
        action: Callable[[R], Any],
        times: int | None = 1,
        description: str = "",
    ) -> Hook[R]:
        """Register and return a hook."""
        if when not in WHEN:
            raise ValueError(f"when must be 'before' or 'after', not {when!r}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        hook: Hook[R] = Hook(matches, when, action, times, description)
        self._hooks.append(hook)
        return hook

    def on(
        self,
        match: str | Callable[[R], bool],
        name_of: Callable[[R], str],
        *,
        when: When,
        action: Callable[[R], Any],
        times: int | None = 1,
    ) -> Hook[R]:
        """Register a hook on the records `name_of` names `match`, or that `match` accepts."""
        matches: Callable[[R], bool]
        if isinstance(match, str):
            wanted = match

            def named(record: R) -> bool:
                return name_of(record) == wanted

            matches = named
            description = match
        else:
            matches = match
            description = getattr(match, "__name__", repr(match))
        return self.add(matches, when=when, action=action, times=times, description=description)

    def clear(self) -> None:
        """Forget every hook."""
        for hook in self._hooks:
            hook.cancel()
        self._hooks.clear()

    def claim(self, record: R, when: When) -> list[Hook[R]]:
        """Return the hooks that fire on ``record`` now, counting the firing at once.

        Counting happens here, synchronously, so two requests arriving together never both
        fire a ``times=1`` hook.
        """
        claimed = []
        for hook in self._hooks:
            if hook.when != when or hook.exhausted:
                continue
            try:
                hit = bool(hook.matches(record))
            except Exception as exc:  # noqa: BLE001 - a broken predicate must not change the answer
                self._report(hook, exc, "predicate")
                continue
            if hit:
                hook.fired.append(record)
                claimed.append(hook)
        return claimed

    async def fire(self, hooks: list[Hook[R]], record: R) -> None:
        """Run the claimed hooks' actions in registration order."""
        for hook in hooks:
            try:
                result = hook.action(record)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - a broken action must not change the answer
                self._report(hook, exc, "action")
            finally:
                hook.done.set()

    async def run(self, record: R, when: When) -> None:
        """Claim and fire in one step."""
        hooks = self.claim(record, when)
        if hooks:
            await self.fire(hooks, record)

    def pending(self, when: When) -> bool:
        """Return True if any hook for ``when`` may still fire (a cheap pre-check)."""
        return any(h.when == when and not h.exhausted for h in self._hooks)

    def _report(self, hook: Hook[R], exc: Exception, what: str) -> None:
        log.error("stand-in hook %r: its %s raised", hook, what, exc_info=exc)
        hook.errors.append(exc)
        if self._errors is not None:
            self._errors.append(exc)
