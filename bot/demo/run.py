"""`python -m bot demo [--out DIR]`: play the scripted session and write the transcript."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.demo.progress import ProgressLine
from bot.demo.script import STEPS
from bot.demo.session import open_stage
from bot.demo.snapshot import take_snapshot
from bot.demo.transcript import render_transcript

__all__ = ["DEFAULT_OUT", "TRANSCRIPT_NAME", "main", "play"]

DEFAULT_OUT = Path("imagine-demo")
TRANSCRIPT_NAME = "transcript.html"


async def play(progress: ProgressLine) -> str:
    """Run every step; return the transcript's HTML."""
    total = len(STEPS) + 2
    progress.step(1, "starting the Discord and kie.ai stand-ins and the bot")
    async with open_stage() as stage:
        for number, (label, step) in enumerate(STEPS, start=2):
            progress.step(number, label)
            try:
                await step(stage)
            except Exception as exc:
                raise RuntimeError(f"step {label!r} failed: {exc}") from exc
        progress.step(total, "writing the transcript")
        channel = await take_snapshot(stage.discord)
        progress.step(total, "stopping the bot")
    return render_transcript(channel, title="python -m bot demo")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `demo`'s arguments, run it, print the transcript's path; 0, or 1 on failure."""
    parser = argparse.ArgumentParser(
        prog="python -m bot demo",
        description="Run the real bot against local stand-ins of Discord and kie.ai (no "
        "account, no network) and write an HTML transcript of a scripted session.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"directory for {TRANSCRIPT_NAME} (default: ./{DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    # The bot logs only what goes wrong; the progress line tells the rest.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    progress = ProgressLine(total=len(STEPS) + 2)
    path = args.out / TRANSCRIPT_NAME
    try:
        # Before the session, so an unusable --out is said at once, not after it.
        args.out.mkdir(parents=True, exist_ok=True)
        html = asyncio.run(play(progress))
        path.write_text(html, encoding="utf-8")
    except KeyboardInterrupt:
        progress.end()
        print("demo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        progress.end()
        print(f"demo: failed: {exc}", file=sys.stderr)
        return 1
    progress.end()
    print(path.resolve())
    return 0
