from __future__ import annotations

import pytest

from sessioncloud.portal.contrast import Contrast, contrast_of, contrast_ratio, relative_luminance


def test_black_on_white_is_the_largest_contrast():
    assert (relative_luminance("#FFFFFF"), relative_luminance("#000000")) == (1.0, 0.0)
    assert contrast_ratio("#FFFFFF", "#000000") == 21.0
    assert contrast_ratio("#000000", "#FFFFFF") == 21.0


@pytest.mark.parametrize(
    ("color", "white", "black"),
    [
        ("#777777", 4.48, 4.69),
        ("#0A7CFF", 3.93, 5.34),
        ("#0a7cff", 3.93, 5.34),
        ("#FFFF00", 1.07, 19.56),
        ("#000080", 16.01, 1.31),
    ],
)
def test_it_computes_the_wcag_ratio_against_white_and_black(color, white, black):
    assert contrast_of(color) == Contrast(against_white=white, against_black=black)


def test_a_colour_readable_on_both_backgrounds_has_no_warning():
    assert contrast_of("#0A7CFF").warnings == []


def test_it_warns_for_each_background_the_colour_fades_into():
    assert contrast_of("#FFFF00").warnings == [
        "Against white this colour has a contrast of only 1.1:1, so keypad digits and controls "
        "are hard to read in light mode (aim for at least 3:1)."
    ]
    assert contrast_of("#000080").warnings == [
        "Against black this colour has a contrast of only 1.3:1, so keypad digits and controls "
        "are hard to read in dark mode (aim for at least 3:1)."
    ]
