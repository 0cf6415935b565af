"""Discord markdown as the transcript shows it: escaped first, then formatted."""

from __future__ import annotations

import pytest

from bot.demo.markdown import relative_time, render

NAMES = {("user", 1): "Alice", ("role", 2): "Artists", ("channel", 3): "general"}
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("**18 of 20** left", "<strong>18 of 20</strong> left"),
        ("<@1>'s limit", '<span class="mention">@Alice</span>&#39;s limit'),
        (
            "<@&2> and <#3>",
            '<span class="mention">@Artists</span> and <span class="mention">#general</span>',
        ),
        ("<@9>", '<span class="mention">@unknown-user</span>'),
        ("`**not bold**`", "<code>**not bold**</code>"),
        (
            "[#1](https://x.test/a?b=1&c=2)",
            '<a href="https://x.test/a?b=1&amp;c=2" rel="noreferrer">#1</a>',
        ),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("a\nb", "a<br>b"),
    ],
)
def test_render(text: str, html: str) -> None:
    """Each construct the bot writes becomes its HTML; anything else stays text."""
    assert render(text, names=lambda kind, ident: NAMES.get((kind, ident)), now=NOW) == html


def test_timestamps_are_relative_to_the_transcript_with_the_exact_time_on_hover() -> None:
    """`<t:N:R>` reads "in 27 seconds" from when the transcript was written."""
    html = render(f"<t:{int(NOW) + 27}:R>", names=lambda *_: None, now=NOW)
    assert ">in 27 seconds</span>" in html
    assert 'title="Friday 15 January 2027 08:00:27 UTC"' in html


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (0.4, "just now"),
        (-5, "5 seconds ago"),
        (90, "in 2 minutes"),
        (-7200, "2 hours ago"),
        (86400 * 3, "in 3 days"),
    ],
)
def test_relative_time(delta: float, words: str) -> None:
    """Seconds, minutes, hours and days, as Discord words them."""
    assert relative_time(NOW + delta, NOW) == words
