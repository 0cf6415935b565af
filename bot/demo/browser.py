"""Open a transcript in headless Chromium: the browser test and the README screenshots.

Playwright drives the distribution's Chromium (`/usr/bin/chromium`, Debian's `chromium`
package); it never downloads a browser of its own. Playwright is a development dependency
(`pip install -e '.[dev]'`), so it is imported only when a page is opened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["BrowserMissing", "chromium_path", "open_page", "unloaded_images"]

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


class BrowserMissing(RuntimeError):
    """Chromium or Playwright is not installed; the message says how to get it."""


def chromium_path() -> Path | None:
    """Return the Chromium to drive: $CHROMIUM when set, else the distribution's, or None."""
    named = os.environ.get("CHROMIUM")
    if named:
        return Path(named) if Path(named).is_file() else None
    for candidate in (*CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@contextlib.contextmanager
def open_page(
    path: Path, *, width: int = 1000, height: int = 900, scale: float = 1
) -> Iterator[Any]:
    """Yield a Playwright page showing the HTML file at `path`, fully loaded."""
    executable = chromium_path()
    if executable is None:
        where = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
        raise BrowserMissing(f"no Chromium at {where} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserMissing("Playwright is not installed (pip install -e '.[dev]')") from exc
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start; a small
        # /dev/shm (containers) would crash its renderer.
        browser = playwright.chromium.launch(
            executable_path=str(executable), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, device_scale_factor=scale
            )
            page.goto(path.resolve().as_uri(), wait_until="load")
            yield page
        finally:
            browser.close()


def unloaded_images(page: Any) -> list[str]:
    """Return the `alt` (or start of `src`) of every <img> that did not load."""
    return list(
        page.evaluate(
            "[...document.images]"
            ".filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.alt || i.src.slice(0, 60))"
        )
    )
