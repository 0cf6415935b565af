"""The demo's progress line on stderr: rewritten in place on a terminal, else plain lines."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressLine"]


class ProgressLine:
    """Show `[step/total] what is happening (seconds)`; a terminal sees one line change."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self._shown = False

    def step(self, number: int, text: str) -> None:
        """Announce step `number` (1-based) of the total."""
        line = f"[{number}/{self.total}] {text} ({time.monotonic() - self.started:.0f} s)"
        if self.live:
            # \r and "erase to end of line": the line is replaced, never scrolled.
            self.stream.write(f"\r\x1b[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._shown = True

    def end(self) -> None:
        """Leave the line (on a terminal, finish it so the next output starts afresh)."""
        if self.live and self._shown:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = False
