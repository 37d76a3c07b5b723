"""WSGI entry point: `dash_app.wsgi:create_server` is the Flask server `kefu dash` runs (any WSGI server works)."""

from __future__ import annotations

import flask


def create_server() -> flask.Flask:
    from dash_app.app import create_app

    return create_app().server  # type: ignore[no-any-return]
