"""`python -m dash_app --host H --port P`: the admin app on Waitress, a production WSGI server (`kefu dash`)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from waitress import serve

from core.logging import configure_logging
from dash_app.wsgi import create_server


def main() -> None:
    parser = argparse.ArgumentParser(prog="kefu dash", description="Kefu admin app (Dash)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--threads", type=int, default=8, help="Requests served at once.")
    args = parser.parse_args()
    # Waitress stops cleanly on SystemExit; the default SIGTERM would end the process before exit hooks
    # release the embedded servers it may have started (`kefu dash` alone, without configured URLs).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    configure_logging()  # Waitress and the access lines (dash_app.access_log) log through it
    server = create_server()
    logging.getLogger("kefu.dash").info("admin app on http://%s:%s/", args.host, args.port)
    # Uploads arrive base64-encoded inside Dash's JSON, so allow a little over twice the upload limit.
    serve(server, host=args.host, port=args.port, threads=args.threads, ident="kefu-admin",
          max_request_body_size=server.config["MAX_CONTENT_LENGTH"] + 1024 * 1024)


if __name__ == "__main__":
    main()
