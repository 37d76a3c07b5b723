"""Signing in to the admin app (Dash) in a browser test whose subject is a page, not the sign-in.

The sign-in form and the language link are driven by hand in tests/browser/test_dash_admin.py and
test_dash_sources.py. Everywhere else the browser context signs in with the same POST the form sends
and picks the language with the same /lang/<code> link, then opens the page under test: one page
render, instead of the overview (twice in Chinese) before it.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

PASSWORD = "password-123"
WAIT = 30_000  # ms: a cold Plotly bundle on a busy CI machine; a wait, not a speed check
KNOWLEDGE = {"en": "Knowledge", "zh": "知识库"}


def sign_in(page: Page, base: str, email: str, lang: str = "en", path: str = "/", password: str = PASSWORD) -> None:
    """Sign `page`'s browser context in as `email`, in `lang`, and open `path` once it shows the user."""
    signed = page.request.post(f"{base}/login", form={"email": email, "password": password}, max_redirects=0)
    assert signed.status == 302 and signed.headers["location"].endswith("/"), (signed.status, signed.text()[:500])
    chosen = page.request.get(f"{base}/lang/{lang}", max_redirects=0)
    assert chosen.status == 302, chosen.status
    page.goto(base + path)
    expect(page.locator("#who")).to_contain_text(email, timeout=WAIT)
    expect(page.locator("#nav-knowledge")).to_have_text(KNOWLEDGE[lang], timeout=WAIT)
