"""`GET /export/file?dataset=&format=&start=&end=`: an export streamed in chunks to the signed-in user.

The Dash download button holds the whole file in memory; this route lets a large tenant's export
flow through in bounded memory, the same way the API's export endpoint does.
"""

from __future__ import annotations

import flask

from core.errors import KefuError
from dash_app import auth
from dash_app.components import period_of


def register(server: flask.Flask) -> None:
    @server.route("/export/file")
    def export_stream() -> flask.Response:
        from analytics import exports
        from dash_app.pages.export import check_choice

        args = flask.request.args
        try:
            user = auth.current_user()
            auth.require(user, "analyst")
            dataset, fmt = check_choice(args.get("dataset"), args.get("format"))
            period = period_of(args.get("start"), args.get("end"), user.timezone)
        except KefuError as exc:
            return flask.Response(exc.detail, status=exc.status_code, mimetype="text/plain")
        filename = exports.export_filename(dataset, fmt, period)
        body = exports.iter_export(user.tenant_id, dataset, fmt, period, user.timezone)
        return flask.Response(
            flask.stream_with_context(body), mimetype=exports.MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    register_audit(server)


def register_audit(server: flask.Flask) -> None:
    @server.route("/audit/file")
    def audit_file() -> flask.Response:
        """The tenant's audit log as CSV, for owners."""
        from core import audit
        from core.db import tenant_session_sync

        try:
            user = auth.current_user()
            auth.require(user, "owner")
        except KefuError as exc:
            return flask.Response(exc.detail, status=exc.status_code, mimetype="text/plain")
        with tenant_session_sync(user.tenant_id) as session:
            body = "".join(audit.export_csv(session, user.tenant_id))
        return flask.Response(body, mimetype="text/csv", headers={
            "Content-Disposition": 'attachment; filename="kefu-audit-log.csv"', "Cache-Control": "no-store"})
