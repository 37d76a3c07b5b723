"""The screens a browser test looks at: each language on a desktop and on a phone."""

from __future__ import annotations

import pytest

DESKTOP = (1440, 930)
PHONE = (390, 844)

# English and Chinese, desktop and phone: the four screenshots a screen is judged by.
EVERY_VIEW = pytest.mark.parametrize(
    ("lang", "viewport"),
    [("en", DESKTOP), ("zh", DESKTOP), ("en", PHONE), ("zh", PHONE)],
    ids=["en-desktop", "zh-desktop", "en-phone", "zh-phone"],
)
