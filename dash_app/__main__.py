"""`python -m dash_app --host H --port P`: the admin app on a threaded WSGI server (`kefu dash` runs this)."""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from dash_app.wsgi import create_server


def main() -> None:
    parser = argparse.ArgumentParser(prog="kefu dash", description="Kefu admin app (Dash)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    args = parser.parse_args()
    server = create_server()
    print(f"admin app on http://{args.host}:{args.port}/", flush=True)
    run_simple(args.host, args.port, server, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
