"""Warnings from Kefu's own code fail the tests (pyproject's filterwarnings); other packages' do not.

A deprecation is cheapest to fix when it first appears: the LitestarDeprecationWarning on
`change_faq_row` (a `data` argument without a body marker) was printed by every run for weeks and
would have broken the API on Litestar 3.0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest


@dataclass
class Change:
    text: str


def _warn_from(module: str) -> None:
    exec("import warnings\nwarnings.warn('going away', DeprecationWarning)", {"__name__": module})


@pytest.mark.parametrize("module", ["core.db", "knowledge.lexical", "chat.engine", "analytics.export",
                                    "backend.api.app", "dash_app.pages", "tests.unit.helper"])
def test_a_warning_from_a_kefu_module_is_an_error(module) -> None:
    with pytest.raises(DeprecationWarning, match="going away"):
        _warn_from(module)


def _action_for(category: type[Warning], module: str) -> str:
    """What the active filters (pyproject's, as pytest installs them) do with such a warning."""
    for action, message, filtered, pattern, _lineno in warnings.filters:
        if (message is None or message.match("going away")) and issubclass(category, filtered) \
                and (pattern is None or pattern.match(module)):
            return str(action)
    return warnings.defaultaction


@pytest.mark.parametrize("module", ["sqlalchemy.orm", "corelib", "chatterbox", "testsuite", "dash.dash"])
def test_a_warning_from_another_package_stays_a_warning(module) -> None:
    assert _action_for(DeprecationWarning, "knowledge.lexical") == "error"  # the lookup sees the ini filters
    assert _action_for(DeprecationWarning, module) != "error"


def test_a_litestar_handler_without_a_body_marker_is_an_error() -> None:
    from litestar import Litestar, put
    from litestar.exceptions import LitestarDeprecationWarning

    @put("/rows")
    async def change_row(data: Change) -> None:  # no JSONBody[...] marker
        return None

    with pytest.raises(LitestarDeprecationWarning):
        Litestar([change_row])


def test_the_api_declares_every_body() -> None:
    from backend.api.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_app()
