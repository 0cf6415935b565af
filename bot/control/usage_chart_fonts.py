"""Which characters the usage chart's fonts can draw (bot/control/usage_chart.py).

matplotlib's own DejaVu Sans has no Chinese, so a chart in Chinese needs a CJK font installed
(any of `CJK_FAMILIES`); the first one found backs DejaVu Sans, glyph by glyph. Text a font
cannot draw would come out as boxes, so callers check with :func:`drawable` first.
matplotlib is imported on first use, as everywhere in the chart.
"""

from __future__ import annotations

from functools import cache

__all__ = ["CJK_FAMILIES", "drawable", "families"]

# Fonts that draw Simplified Chinese, tried in order: the first installed one backs DejaVu Sans.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)


@cache
def families() -> tuple[str, ...]:
    """Return the chart's fonts: DejaVu Sans, then the first CJK font installed, if any."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    cjk = next((family for family in CJK_FAMILIES if family in installed), None)
    return ("DejaVu Sans", cjk) if cjk else ("DejaVu Sans",)


@cache
def _glyphs() -> frozenset[int]:
    """Return the code points the chart's fonts can draw."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    points: set[int] = set()
    for family in families():
        path = font_manager.findfont(font_manager.FontProperties(family=family))
        points.update(FT2Font(path).get_charmap())
    return frozenset(points)


def drawable(text: str) -> bool:
    """Return whether the chart's fonts draw every character of `text`."""
    glyphs = _glyphs()
    return all(ord(ch) in glyphs for ch in text if not ch.isspace())
