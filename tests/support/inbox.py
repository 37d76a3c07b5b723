"""The agent's side of the browser tests: signing in to the inbox (`/inbox`) in a fresh browser context."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

DESKTOP = {"width": 1440, "height": 930}


def sign_in_to_inbox(browser: Browser, api: str, email: str, lang: str, viewport: dict[str, int] | None = None,
                     password: str = "password-123") -> Page:
    """Open the inbox in a new context, sign in, and return the page once its live connection is on."""
    page = browser.new_context(viewport=viewport or DESKTOP).new_page()
    page.goto(f"{api}/inbox?lang={lang}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page.locator("#live")).to_have_class("live on", timeout=30_000)  # argon2 on a busy machine
    return page
