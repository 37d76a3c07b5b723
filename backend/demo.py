"""`kefu demo`: the whole product on embedded defaults in one command.

Starts (or reuses) the embedded PostgreSQL and Redis under KEFU_DATA_DIR, migrates, seeds a demo
tenant with a bilingual FAQ, then runs the API, a worker and the Dash admin app as child processes until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click

from backend.worker_runner import die_with_parent
from core.settings import get_settings

DEMO_DIR = Path(__file__).parent / "demo_data"  # knowledge: every file here is uploaded
DEMO_RECORDS = Path(__file__).parent / "demo_records"  # the lookup tool's data: imported as records
DEMO_EMAIL = "owner@demo.kefu.local"
DEMO_PASSWORD = "demo-password"  # a local demo only; printed on start
DEMO_SHOPPER = "c-1001"  # owns orders 10023 and 10024 in demo_records/orders.csv
DEMO_STARTERS = ["Where is my order 10023?", "How long does delivery take?", "退货政策是什么？"]
# After the services are up, the worker indexes the demo knowledge and runs the analytics jobs the
# sample conversations queued, logging as it goes; the banner waits for that (at most this long)
# so it is the last thing on the screen.
QUIET_WAIT_SECONDS = 60.0
BANNER_SETTLE_SECONDS = 1.0


def _seed() -> dict[str, str]:
    """Create the demo tenant once; its keys are kept in KEFU_DATA_DIR/demo.json."""
    from core.tenancy import create_tenant

    settings = get_settings()
    state_file = settings.data_dir / "demo.json"
    if state_file.exists():
        return dict(json.loads(state_file.read_text()))
    created = create_tenant("Lotus Tea House 莲花茶舍", DEMO_EMAIL, DEMO_PASSWORD,
                            origins=["http://127.0.0.1:8000", "http://localhost:8000"])
    state = {"tenant_id": str(created.tenant_id), "admin_api_key": created.admin_api_key,
             "widget_key": created.widget_key, "admin_email": DEMO_EMAIL, "admin_password": DEMO_PASSWORD}
    state_file.write_text(json.dumps(state, indent=2))
    state_file.chmod(0o600)
    return state


def _allow_demo_origins(tenant_id: str, host: str, api_port: int) -> None:
    """The demo shop page is served by the API itself, so its origin must be allowed for this port."""
    import uuid

    from sqlalchemy import select

    from core.db import tenant_session_sync
    from core.models import WidgetKey

    wanted = {f"http://{name}:{api_port}" for name in ("127.0.0.1", "localhost", host) if name not in ("0.0.0.0", "::")}  # noqa: S104
    with tenant_session_sync(uuid.UUID(tenant_id)) as session:
        for key in session.scalars(select(WidgetKey)):
            missing = sorted(wanted - set(key.allowed_origins))
            if missing:
                key.allowed_origins = [*key.allowed_origins, *missing]


def _upload_demo_faq(tenant_id: str) -> None:
    import uuid

    from knowledge.commands import upload_document

    for file in sorted(DEMO_DIR.iterdir()):
        upload_document(uuid.UUID(tenant_id), file.name, file.read_bytes())


def _seed_shop(tenant_id: str) -> dict[str, str]:
    """Demo orders (read only by their signed-in owner) and the shop's widget look; the shopper's link.

    The orders are imported on every start (a whole-collection replace, so it is idempotent); the
    widget settings only the first time, so what the owner changes in the admin app stays.
    """
    import uuid

    from core.identity import user_hash
    from core.tenancy import identity_secret
    from core.widget_appearance import save_appearance
    from knowledge.commands import import_records
    from knowledge.records import AccessChange

    tenant = uuid.UUID(tenant_id)
    orders = DEMO_RECORDS / "orders.csv"
    import_records(tenant, "orders", orders.name, orders.read_bytes(), "order_id", AccessChange("customer_id"))
    if "shopper_hash" not in _state():  # first start
        save_appearance(tenant, {"starters": DEMO_STARTERS})
    return {"shopper": DEMO_SHOPPER, "shopper_hash": user_hash(identity_secret(tenant), DEMO_SHOPPER)}


def _state() -> dict[str, str]:
    file = get_settings().data_dir / "demo.json"
    return dict(json.loads(file.read_text())) if file.exists() else {}


def _save_state(state: dict[str, str]) -> None:
    file = get_settings().data_dir / "demo.json"
    file.write_text(json.dumps(state, indent=2))
    file.chmod(0o600)


def banner(state: dict[str, str]) -> str:
    """What `kefu demo` prints once everything is up (and again on Enter or `kefu demo --banner`)."""
    base, admin, key = state["api_url"], state["admin_url"], state["widget_key"]
    shop = f"{base}/demo/shop?key={key}"
    return (
        "\n──────────────────────────────────────────────────────────────────────────────\n"
        "Kefu demo is running\n"
        f"  admin app      {admin}/   (sign in: {state['admin_email']} / {state['admin_password']})\n"
        f"  demo shop      {shop}   (the chat widget on a sample page)\n"
        f"  signed in      {shop}&user={state['shopper']}&hash={state['shopper_hash']}\n"
        f"                 (as demo customer {state['shopper']}: ask \"Where is my order 10023?\")\n"
        f"  API            {base}   (OpenAPI: {base}/schema)\n"
        f"  tenant         {state['tenant_id']}  Lotus Tea House 莲花茶舍\n"
        f"  admin API key  {state['admin_api_key']}\n"
        f"  widget key     {key}\n"
        f"  try: curl -s {base}/api/v1/search -H 'Authorization: Bearer {state['admin_api_key']}' "
        "-H 'Content-Type: application/json' -d '{\"query\": \"退货政策\", \"top_k\": 3}'\n"
        f"  chat: curl -s {base}/api/v1/chat -H 'X-Widget-Key: {key}' "
        "-H 'Content-Type: application/json' -d '{\"message\": \"退货政策是什么？\"}'\n"
        "Press Enter to show this again (or run `kefu demo --banner`). Press Ctrl-C to stop.\n"
        "──────────────────────────────────────────────────────────────────────────────"
    )


def print_banner() -> None:
    """`kefu demo --banner`: the running demo's URLs and keys, from KEFU_DATA_DIR/demo.json."""
    state = _state()
    if "api_url" not in state:
        raise click.ClickException(f"No demo has started in {get_settings().data_dir.resolve()} yet; run `kefu demo`.")
    click.echo(banner(state))


def _banner_on_enter(state: dict[str, str]) -> None:
    """Reprint the banner whenever Enter is pressed in the demo's terminal (logs scroll it away)."""
    import threading

    if not sys.stdin or not sys.stdin.isatty():
        return

    def listen() -> None:
        for _ in sys.stdin:
            click.echo(banner(state))

    threading.Thread(target=listen, name="kefu-demo-banner", daemon=True).start()


def _wait_for_idle_worker(timeout: float) -> None:
    """Return once no Dramatiq message is waiting or in flight (or after `timeout` seconds)."""
    from core.broker import QUEUES
    from core.redis import sync_redis

    deadline, idle_checks = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and idle_checks < 2:
        try:
            pending = sum(sync_redis().hlen(f"kefu:{queue}.msgs") for queue in QUEUES)
        except Exception:  # Redis trouble shows in the services' own logs
            return
        idle_checks = idle_checks + 1 if pending == 0 else 0
        time.sleep(0.5)


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def run_demo(*, host: str, api_port: int, dash_port: int) -> None:
    from core import embedded
    from core.db import owner_url
    from core.migrations import upgrade
    from core.redis import redis_url

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # `kill` and service managers stop it like Ctrl-C. SIGINT is set too: a shell script that starts
    # the demo in the background hands it SIGINT ignored, and `kill -INT` must still stop it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    settings = get_settings()
    embedded.check_available(settings.database_url, settings.redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"data directory: {settings.data_dir.resolve()}")
    env = dict(os.environ)
    env["KEFU_DATABASE_URL"] = owner_url().render_as_string(hide_password=False).replace(
        "postgresql+psycopg", "postgresql")
    env["KEFU_REDIS_URL"] = redis_url()
    env["KEFU_DATA_DIR"] = str(settings.data_dir.resolve())
    env.setdefault("KEFU_LOG_FORMAT", "text")  # a person reads this terminal; KEFU_LOG_FORMAT=json to ship it
    upgrade()
    state = _seed()
    _allow_demo_origins(state["tenant_id"], host, api_port)

    kefu = [sys.executable, "-m", "backend.cli"]
    env["KEFU_PUBLIC_API_URL"] = f"http://{host}:{api_port}"  # the widget tag the admin app shows
    commands = [["api", "--host", host, "--port", str(api_port)],
                ["worker", "--processes", "1", "--threads", "2", "--metrics-host", host],
                ["dash", "--host", host, "--port", str(dash_port)]]
    # Own sessions: a terminal Ctrl-C reaches only this process, which then stops each child with
    # SIGTERM (a clean shutdown, without the tracebacks SIGINT leaves in uvicorn and Waitress), and
    # only then the embedded servers they use. A child also gets SIGTERM if this process is killed.
    children = [subprocess.Popen([*kefu, *command], env=env, start_new_session=True, preexec_fn=die_with_parent)
                for command in commands]
    try:
        _upload_demo_faq(state["tenant_id"])
        base = f"http://{host}:{api_port}"
        if not _wait_http(f"{base}/ready", 60):
            raise click.ClickException("the API did not become ready; see the log above")
        admin = f"http://{host}:{dash_port}"
        if not _wait_http(f"{admin}/healthz", 60):
            raise click.ClickException("the admin app did not start; see the log above")
        if not state.get("history_seeded"):  # a first day of conversations for the admin app's reports
            from backend.demo_history import seed_history

            if seed_history(base, state["tenant_id"], state["widget_key"]):
                state["history_seeded"] = "yes"
                _save_state(state)
        state |= _seed_shop(state["tenant_id"]) | {"api_url": base, "admin_url": admin}
        _save_state(state)
        _wait_for_idle_worker(QUIET_WAIT_SECONDS)
        time.sleep(BANNER_SETTLE_SECONDS)
        click.echo(banner(state))
        _banner_on_enter(state)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        click.echo("a service exited; stopping the demo", err=True)
    except KeyboardInterrupt:
        click.echo("\nstopping…")
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave servers running; it is bounded.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        embedded.shutdown()
