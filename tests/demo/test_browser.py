"""The demo's transcript in a real browser: headless Chromium (Debian's) through Playwright.

Without Chromium or Playwright the test is skipped with the reason, except in CI (CI is
set), where it fails: `.ci/run` installs Chromium, and a browser test must not pass by not
running.
"""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image, ImageStat

from bot.demo.browser import BrowserMissing, open_page, unloaded_images
from tests.demo.conftest import DemoRun


def _need_browser(exc: BrowserMissing) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI: {exc}")
    pytest.skip(str(exc))


def test_the_transcript_renders_with_every_image_loaded(demo_run: DemoRun) -> None:
    """Chromium draws the page (not blank), and every <img> loaded with a real width."""
    assert demo_run.returncode == 0, demo_run.stderr
    try:
        with open_page(demo_run.transcript, width=1000, height=900) as page:
            count = page.evaluate("document.images.length")
            broken = unloaded_images(page)
            shot = page.screenshot(full_page=True)
    except BrowserMissing as exc:
        _need_browser(exc)
        return
    assert count >= 20  # 8 results, and an avatar for each message and command line
    assert broken == []
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.height > 2000  # the whole channel, not only the first screen
    # A blank or failed page is one colour; a drawn one has text, embeds and pictures.
    spread = ImageStat.Stat(image).stddev
    assert min(spread) > 15, spread
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 1000
