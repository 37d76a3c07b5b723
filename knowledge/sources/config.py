"""Checking what an admin asks a website source to be, with messages that say what to fix."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core.errors import ValidationFailed
from core.models import SOURCE_SCHEDULES
from core.outbound import is_forbidden_address
from core.settings import get_settings
from knowledge.sources.urls import MAX_URL_CHARS, normalise

MAX_PATTERNS = 50
MAX_PATTERN_CHARS = 300
MAX_DEPTH = 10


@dataclass(frozen=True)
class WebsiteConfig:
    url: str
    max_pages: int
    max_depth: int
    schedule: str = "off"
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)


def check_website(url: Any, *, max_pages: Any = None, max_depth: Any = None, schedule: Any = None,
                  include: Any = None, exclude: Any = None) -> WebsiteConfig:
    """The source as it will be stored, or `ValidationFailed` naming the field to fix."""
    settings = get_settings()
    return WebsiteConfig(
        url=check_url(url),
        max_pages=_int("max_pages", max_pages, settings.crawl_default_max_pages, 1, settings.crawl_max_pages_per_tenant,
                       f"this server allows at most {settings.crawl_max_pages_per_tenant} pages per tenant"),
        max_depth=_int("max_depth", max_depth, settings.crawl_default_max_depth, 0, MAX_DEPTH, "links deeper than "
                       f"{MAX_DEPTH} clicks from the start page are rarely help pages"),
        schedule=check_schedule(schedule),
        include=check_patterns("include", include),
        exclude=check_patterns("exclude", exclude),
    )


def check_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("Give the website's address as url, e.g. https://shop.example.com/help/.")
    text = value.strip()
    if "://" not in text:
        text = "https://" + text
    if len(text) > MAX_URL_CHARS:
        raise ValidationFailed(f"The URL is longer than {MAX_URL_CHARS} characters.")
    url = normalise(text)
    if url is None:
        raise ValidationFailed("The URL must be an http:// or https:// address with a host name and no "
                               "user name or password, e.g. https://shop.example.com/.")
    host = urlsplit(url).hostname or ""
    if not get_settings().crawl_allow_private and _private_host(host):
        raise ValidationFailed(f"{host} is a private or local address; only public websites can be crawled.")
    return url


def _private_host(host: str) -> bool:
    # The crawler checks every address again when it connects; this only answers obvious cases now.
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        return is_forbidden_address(ipaddress.ip_address(host))
    except ValueError:
        return False


def check_schedule(value: Any) -> str:
    if value is None:
        return "off"
    if value not in SOURCE_SCHEDULES:
        raise ValidationFailed(f"schedule must be one of {', '.join(SOURCE_SCHEDULES)}.")
    return str(value)


def check_patterns(name: str, value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):  # one pattern per line or comma, as typed into a form
        value = [p for line in value.splitlines() for p in line.split(",")]
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationFailed(f"{name} must be a list of URL patterns such as \"/help/*\".")
    patterns = [p.strip() for p in value if p.strip()]
    if len(patterns) > MAX_PATTERNS:
        raise ValidationFailed(f"{name} may hold at most {MAX_PATTERNS} patterns.")
    if too_long := [p for p in patterns if len(p) > MAX_PATTERN_CHARS]:
        raise ValidationFailed(f"{name} pattern is longer than {MAX_PATTERN_CHARS} characters: {too_long[0][:60]}…")
    return list(dict.fromkeys(patterns))


def _int(name: str, value: Any, default: int, low: int, high: int, why: str) -> int:
    if value is None:
        return min(default, high)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}.")
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be from {low} to {high} ({why}).")
    return value
