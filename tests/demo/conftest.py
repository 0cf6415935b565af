"""The demo, run once for the tests of this folder: `python -m bot demo --out <tmp>`.

It runs as a child process, the way a newcomer runs it (its stdout, stderr and exit code are
part of what is tested), and the transcript it wrote is shared by the content and browser
tests.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# Generous: the demo itself takes about 12 s; the child also imports discord.py and Pillow.
DEMO_TIMEOUT = 110


@dataclass(frozen=True)
class DemoRun:
    """What one run of the demo left behind."""

    returncode: int
    stdout: str
    stderr: str
    out: Path

    @property
    def transcript(self) -> Path:
        return self.out / "transcript.html"

    @property
    def html(self) -> str:
        return self.transcript.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """Run the demo into a fresh directory (from another working directory, with no .env)."""
    base = tmp_path_factory.mktemp("demo")
    out = base / "out"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--out", str(out)],
        cwd=base,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    return DemoRun(done.returncode, done.stdout, done.stderr, out)
