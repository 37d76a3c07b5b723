"""`python -m backend.dramatiq_main …`: Dramatiq's command line with Kefu's log format in every process.

Dramatiq's CLI calls `logging.basicConfig` with its own format in the parent and in each worker
process it forks; wrapping that call makes its lines ("booting up", "Sending signal…") come out
in `KEFU_LOG_FORMAT` like everything else, before any worker-boot hook could switch them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from dramatiq import cli

from core.logging import kefu_formatter

_basic_config = logging.basicConfig


def _kefu_basic_config(**kwargs: Any) -> None:
    _basic_config(**kwargs)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(kefu_formatter())


if __name__ == "__main__":
    logging.basicConfig = _kefu_basic_config
    sys.exit(cli.main())
