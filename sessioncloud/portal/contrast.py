"""WCAG 2 contrast of a theme colour against the white and black screens it is drawn on.

The theme colour paints keypad digits, menu titles and controls, so it must stay readable in
light mode (on white) and dark mode (on black). WCAG asks at least 3:1 for controls and large
text. branding.js computes the same numbers in the browser for the live warning.
"""

from __future__ import annotations

from dataclasses import dataclass

MINIMUM_RATIO = 3.0
WHITE = "#FFFFFF"
BLACK = "#000000"


def _channel(value: int) -> float:
    srgb = value / 255
    return srgb / 12.92 if srgb <= 0.04045 else ((srgb + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """Luminance of `#RRGGBB` from 0 (black) to 1 (white)."""
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass(frozen=True)
class Contrast:
    against_white: float
    against_black: float

    @property
    def warnings(self) -> list[str]:
        found = []
        for ratio, background, mode in (
            (self.against_white, "white", "light"),
            (self.against_black, "black", "dark"),
        ):
            if ratio < MINIMUM_RATIO:
                found.append(
                    f"Against {background} this colour has a contrast of only {ratio:.1f}:1, so keypad "
                    f"digits and controls are hard to read in {mode} mode (aim for at least 3:1)."
                )
        return found


def contrast_of(color: str) -> Contrast:
    return Contrast(
        against_white=round(contrast_ratio(color, WHITE), 2),
        against_black=round(contrast_ratio(color, BLACK), 2),
    )
