"""The Dash admin app: `create_app()` builds the Flask server, sign-in routes and the page shell.

Every request except the sign-in page and static assets needs a signed-in user: pages redirect to
/login, Dash's data endpoints answer 401. All assets (Dash's JavaScript, Plotly, our CSS) are served
by this process; the app makes no CDN requests.
"""

from __future__ import annotations

import html as html_text
from datetime import timedelta
from pathlib import Path

import dash
import flask
from dash import Input, Output, dcc, html

from core.errors import NotAuthenticated, RateLimited
from core.settings import get_settings
from dash_app import access_log, auth
from dash_app.i18n import LANG_COOKIE, LANGUAGES, language, t, translate_tree
from dash_app.pages import PAGES, page_for

ASSETS = Path(__file__).parent / "assets"
_PUBLIC_PREFIXES = ("/login", "/assets/", "/_dash-component-suites/", "/_favicon.ico", "/lang/", "/healthz")


def create_app() -> dash.Dash:
    settings = get_settings()  # refuses the development secret in production
    server = flask.Flask("kefu_dash")
    server.secret_key = settings.secret_key
    server.config.update(
        SESSION_COOKIE_NAME="kefu_admin", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.token_ttl_seconds),
        # Send the session cookie only when it changed: re-sending it on every Dash callback let a
        # callback that started before a change answer with the old cookie and undo the change.
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes * 2,  # uploads arrive base64-encoded in JSON
    )
    access_log.register(server)  # first, so its clock also times requests the sign-in check redirects
    _add_routes(server)
    app = dash.Dash(
        __name__, server=server, serve_locally=True, suppress_callback_exceptions=True,
        assets_folder=str(ASSETS), title="Kefu admin", update_title=None,
    )
    app.layout = shell
    _register_router(app)
    _register_timezone_default(app)
    for page in PAGES:
        page.register(app)
    return app


def shell() -> html.Div:
    """The frame around every page; built per request, so it shows the signed-in user."""
    try:
        user = auth.current_user()
    except NotAuthenticated:
        return html.Div([dcc.Location(id="url", refresh=True, href="/login")])
    nav = [dcc.Link(t(page.title), href=page.path, className="nav-link", id=f"nav-{page.slug}")
           for page in PAGES] if user.can("analyst") else []
    if user.can("agent"):
        nav.append(html.A(t("Agent inbox"), href=_inbox_url(), target="_blank", className="nav-link", id="nav-inbox"))
    other = "zh" if language() == "en" else "en"
    header = html.Header([
        html.Div([html.Span("Kefu 客服", className="brand"),
                  html.Span(user.tenant_name, className="tenant user-text")]),
        html.Div([
            html.Label(t("Period"), htmlFor="period"),
            dcc.DatePickerRange(id="period", display_format="YYYY-MM-DD", clearable=False,
                                start_date=_default_start(user.timezone), end_date=_today(user.timezone),
                                minimum_nights=0, first_day_of_week=1,
                                start_date_placeholder_text=t("Start date"), end_date_placeholder_text=t("End date"),
                                month_format="YYYY年M月" if language() == "zh" else "MMMM YYYY"),
        ], className="period"),
        html.Div([
            html.Span([html.Span(user.email, className="user-text"), f" · {t(user.role)}"], className="who", id="who"),
            html.A("中文" if other == "zh" else "English", href=f"/lang/{other}", className="lang"),
            html.A(t("Sign out"), href="/logout", className="signout"),
        ], className="user"),
    ], className="topbar")
    return html.Div([
        dcc.Location(id="url"),
        dcc.Store(id="browser-timezone"), html.Div(id="browser-timezone-saved", hidden=True),
        header,
        html.Div([html.Nav(nav, className="sidenav"), html.Main(id="page", className="content")],
                 className="body"),
    ], **{"data-lang": language()})


def _today(zone: str) -> str:
    """Today in the tenant's time zone (its days are the reports' days)."""
    from analytics.period import local_today

    return local_today(zone).isoformat()


def _default_start(zone: str) -> str:
    from analytics.period import local_today

    return (local_today(zone) - timedelta(days=29)).isoformat()


def _register_timezone_default(app: dash.Dash) -> None:
    """A tenant that never chose a time zone gets the browser's, the first time an admin opens the app."""
    app.clientside_callback("function(_) { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; }",
                            Output("browser-timezone", "data"), Input("url", "pathname"))

    @app.callback(Output("browser-timezone-saved", "children"), Input("browser-timezone", "data"),
                  prevent_initial_call=True)
    def adopt(name: str | None) -> str:
        from analytics.commands import adopt_timezone
        from core.audit import Actor
        from core.errors import KefuError

        user = auth.current_user()
        if not name or not user.can("admin"):
            return ""
        try:
            return adopt_timezone(user.tenant_id, name, actor=Actor("user", user.user_id)) or ""
        except KefuError:
            return ""  # a browser zone Python does not know: the tenant stays on UTC until set by hand


def _register_router(app: dash.Dash) -> None:
    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname: str | None) -> object:
        user = auth.current_user()
        if not user.can("analyst"):
            return _agent_page()  # agents work in the inbox; reports and settings are not theirs
        return translate_tree(page_for(pathname).layout(user))


def _inbox_url() -> str:
    return get_settings().public_api_url.rstrip("/") + "/inbox"


def _agent_page() -> html.Div:
    hint = t("You are signed in as an agent: you answer customers in the agent inbox, which updates live.")
    return html.Div([html.H2(t("Agent inbox")), html.P(hint),
                     html.A(t("Open the agent inbox"), href=_inbox_url(), className="button", id="open-inbox")])


def _add_routes(server: flask.Flask) -> None:
    @server.before_request
    def require_sign_in() -> flask.Response | None:
        path = flask.request.path
        if path.startswith(_PUBLIC_PREFIXES):
            return None
        try:
            auth.current_user()
        except NotAuthenticated as exc:
            if path.startswith("/_dash-") or path.startswith("/export/"):
                return flask.Response(exc.detail, status=401, mimetype="text/plain")
            return flask.redirect("/login")
        return None

    @server.route("/login", methods=["GET", "POST"])
    def login() -> flask.Response | str:
        if flask.request.method == "POST":
            form = flask.request.form
            try:
                user = auth.authenticate(form.get("email", ""), form.get("password", ""),
                                         flask.request.remote_addr or "unknown")
            except (NotAuthenticated, RateLimited) as exc:
                return flask.Response(_login_page(exc.detail), status=exc.status_code, mimetype="text/html")
            auth.sign_in(user)
            return flask.redirect("/")
        return _login_page("")

    @server.route("/logout")
    def logout() -> flask.Response:
        auth.sign_out()
        return flask.redirect("/login")

    @server.route("/lang/<code>")
    def switch_language(code: str) -> flask.Response:
        target = flask.request.referrer or "/"
        response = flask.redirect(target if target.startswith(flask.request.host_url) else "/")
        if code in LANGUAGES:
            flask.session.pop("lang", None)  # older sessions kept the choice here
            response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                                secure=flask.request.is_secure)
        return response

    @server.route("/healthz")
    def healthz() -> flask.Response:
        return flask.Response("ok", mimetype="text/plain")

    from dash_app.downloads import register as register_downloads

    register_downloads(server)


def _login_page(error: str) -> str:
    message = f'<p class="notice notice-error" role="alert">{html_text.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="{language()}"><head><meta charset="utf-8"><title>Kefu admin · {t("Sign in")}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/kefu.css"></head>
<body class="login-body"><form method="post" action="/login" class="login card">
<h1>Kefu 客服</h1>{message}
<label for="email">{t("Email")}</label><input id="email" name="email" type="email" autocomplete="username" required>
<label for="password">{t("Password")}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">{t("Sign in")}</button>
<p class="lang-switch"><a href="/lang/en">English</a> · <a href="/lang/zh">中文</a></p>
</form></body></html>"""
