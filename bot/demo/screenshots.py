"""Regenerate the README's pictures: `.venv/bin/python -m bot.demo.screenshots`.

Runs the demo, opens its transcript in headless Chromium (`browser.py`) and photographs three
messages: a result with its buttons, the live progress of a job still generating, and
`/quota`'s answer. Run it from the repository root (the PNGs go to `docs/screenshots/`,
or `--out DIR`); it needs the dev extra (Playwright), Debian's `chromium`, and for the
buttons' emoji a colour emoji font (`fonts-noto-color-emoji`).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from bot.demo.browser import BrowserMissing, open_page, unloaded_images
from bot.demo.progress import ProgressLine
from bot.demo.run import play
from bot.demo.script import STEPS

__all__ = ["SHOTS", "main"]

# File name → which messages (public, private) and the text that picks out the one to take.
SHOTS = {
    "result.png": ("article.message:not(.ephemeral)", "a lighthouse on a cliff at dusk"),
    "progress.png": ("article.message.ephemeral", "Imagining…"),
    "quota.png": ("article.message.ephemeral", "Your /imagine quota here"),
}
WIDTH = 760


def _shrink(png: bytes) -> bytes:
    """Re-save the PNG with zlib's best effort (Chromium favours speed)."""
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def take(transcript: Path, out: Path) -> list[Path]:
    """Photograph each message of SHOTS in the transcript; return the files written."""
    written = []
    with open_page(transcript, width=WIDTH, height=900) as page:
        broken = unloaded_images(page)
        if broken:
            raise RuntimeError(f"images did not load: {broken}")
        for name, (kind, text) in SHOTS.items():
            # The first message showing the text (for the result: Alice's, before the Reroll's).
            message = page.locator(kind).filter(has_text=text)
            if message.count() == 0:
                raise RuntimeError(f"no message shows {text!r}")
            shot = message.first.screenshot(animations="disabled")
            path = out / name
            path.write_bytes(_shrink(shot))
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo and write the screenshots; print their paths."""
    parser = argparse.ArgumentParser(prog="python -m bot.demo.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    try:
        html = asyncio.run(play(ProgressLine(total=len(STEPS) + 2)))
        with tempfile.TemporaryDirectory(prefix="imagine-shots-") as scratch:
            transcript = Path(scratch) / "transcript.html"
            transcript.write_text(html, encoding="utf-8")
            args.out.mkdir(parents=True, exist_ok=True)
            written = take(transcript, args.out)
    except (BrowserMissing, RuntimeError) as exc:
        print(f"\nscreenshots: failed: {exc}", file=sys.stderr)
        return 1
    print()
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
