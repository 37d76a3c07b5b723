"""How large the scale checks are: a small version in `make test`, the full size in `make bench-scale`.

A scale check is a test whose code path is the same at any size (a CSV of N rows indexed completely,
N documents spread over two workers); only N changes. `make test` runs the small N, enough to cross
every batch boundary the full size crosses; `bench/scale_checks.py` runs the same tests with
KEFU_TEST_FULL_SCALE=1 and prints how long each took.
"""

from __future__ import annotations

import os


def full_scale() -> bool:
    return os.environ.get("KEFU_TEST_FULL_SCALE", "") not in ("", "0")


def scaled(small: int, full: int) -> int:
    """`full` under `make bench-scale` (KEFU_TEST_FULL_SCALE=1), else `small`."""
    return full if full_scale() else small
