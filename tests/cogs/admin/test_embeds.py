"""The usage embed shows credits exactly as summed: 116.5, never 116.49999999999986."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.control import MemberUsage, UsageReport
from cogs.admin._embeds import usage_embed


def _report(credits: Decimal, *members: MemberUsage) -> UsageReport:
    return UsageReport(
        guild_id=1,
        period="day",
        start=1_741_737_600,
        end=1_741_824_000,
        images=sum(m.images for m in members),
        credits=credits,
        jobs=len(members),
        failed_jobs=0,
        top_members=members,
    )


@pytest.mark.parametrize(
    ("credits", "shown"),
    [
        (Decimal("116.5"), "116.5"),
        (Decimal("0.8"), "0.8"),
        (Decimal("10"), "10"),
        (Decimal("10.000"), "10"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0"), "0"),
        (Decimal("1234567.125"), "1234567.125"),
    ],
)
def test_usage_embed_shows_credits_exactly(credits: Decimal, shown: str) -> None:
    """The 'Credits spent' field is every digit of the exact total, with no exponent."""
    embed = usage_embed(_report(credits, MemberUsage(7, 1, credits)))
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Credits spent"] == shown
    assert fields["Top members"] == f"1. <@7>: 1 image, {shown} credits"


def test_usage_embed_lists_each_members_exact_credits() -> None:
    """Each top member's line carries their exact credits."""
    embed = usage_embed(
        _report(
            Decimal("116.5"),
            MemberUsage(1, 1000, Decimal("100")),
            MemberUsage(2, 3, Decimal("16.5")),
        )
    )
    top = {f.name: f.value for f in embed.fields}["Top members"]
    assert top.splitlines() == [
        "1. <@1>: 1000 images, 100 credits",
        "2. <@2>: 3 images, 16.5 credits",
    ]


def test_usage_embed_shows_the_attached_chart() -> None:
    """With a chart, the embed's image is the attachment and the exact figures stay."""
    embed = usage_embed(
        _report(Decimal("5.5"), MemberUsage(7, 1, Decimal("5.5"))), chart="usage_day_2025-03-12.png"
    )
    assert embed.image.url == "attachment://usage_day_2025-03-12.png"
    assert {f.name: f.value for f in embed.fields}["Credits spent"] == "5.5"
    assert "No chart" not in (embed.description or "")


def test_an_empty_period_says_there_is_no_chart() -> None:
    """Nothing delivered and nothing charged: the text says so, and there is no image."""
    embed = usage_embed(_report(Decimal(0)))
    assert "No chart: no images were delivered and no credits spent this day." in (
        embed.description or ""
    )
    assert embed.image.url is None


def test_a_chart_that_failed_to_draw_is_mentioned() -> None:
    """Usage without a chart means drawing failed: the embed says its figures are exact."""
    embed = usage_embed(_report(Decimal(5), MemberUsage(7, 1, Decimal(5))))
    assert "could not be drawn" in (embed.description or "")
    assert embed.image.url is None
