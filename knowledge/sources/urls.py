"""Which URLs belong to a crawl: normalised form, same site, the admin's include/exclude patterns."""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

# Links to these are never fetched: nothing in them is text a customer asks about.
SKIPPED_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".bmp", ".tif", ".tiff", ".avif",
    ".css", ".js", ".mjs", ".map", ".woff", ".woff2", ".ttf", ".otf", ".eot",
    ".zip", ".gz", ".tgz", ".tar", ".rar", ".7z", ".bz2", ".xz",
    ".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".webm", ".avi", ".mov", ".mkv", ".flv",
    ".exe", ".dmg", ".msi", ".apk", ".bin", ".iso", ".deb", ".rpm",
    ".xls", ".xlsx", ".ppt", ".pptx", ".doc", ".odt", ".ods", ".csv", ".json", ".xml", ".rss", ".atom",
})  # fmt: skip
FILE_EXTENSIONS = {".pdf": "pdf", ".docx": "docx"}
_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|spm)$", re.IGNORECASE)
MAX_URL_CHARS = 2000


def url_key(url: str) -> str:
    """The key a page is stored under (URLs can be longer than an index entry may be)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def normalise(href: str, base: str | None = None) -> str | None:
    """An absolute http(s) URL without fragment, tracking parameters or default port; None if not one."""
    try:
        joined = urljoin(base, href.strip()) if base else href.strip()
        parts = urlsplit(joined)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"
    path = _clean_path(parts.path or "/")
    query = "&".join(p for p in parts.query.split("&") if p and not _TRACKING.match(p.split("=", 1)[0]))
    url = urlunsplit((scheme, host, path, query, ""))
    return url if len(url) <= MAX_URL_CHARS else None


def _clean_path(path: str) -> str:
    # Resolve "." and ".." segments (urljoin leaves them in an absolute href) but keep a trailing slash.
    if "/." not in path:
        return path
    cleaned = posixpath.normpath(path)
    if path.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned if cleaned.startswith("/") else "/" + cleaned


def extension(url: str) -> str:
    return posixpath.splitext(urlsplit(url).path)[1].lower()


def _site_host(host: str) -> str:
    return host.lower().removeprefix("www.")


@dataclass(frozen=True)
class Scope:
    """The part of a site a source covers: its host (with or without www., http or https) and path prefix."""

    host: str  # hostname[:port], without "www."
    path_prefix: str

    @classmethod
    def of(cls, start_url: str, *, whole_site: bool = False) -> Scope:
        parts = urlsplit(start_url)
        netloc = parts.netloc.lower()
        path = parts.path or "/"
        prefix = "/" if whole_site else path[: path.rfind("/") + 1]
        return cls(_site_host(netloc), prefix or "/")

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        return _site_host(parts.netloc) == self.host and (parts.path or "/").startswith(self.path_prefix)


class UrlPatterns:
    """The admin's include/exclude globs (`*` matches anything, `/` included).

    A pattern with "://" is matched against the whole URL, any other against the path and query
    ("/help/*", "*.html", "*?page=*"). With include patterns, a URL must match one of them; a URL
    matching an exclude pattern is never fetched.
    """

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self._include = [_compile(p) for p in include]
        self._exclude = [_compile(p) for p in exclude]

    def allows(self, url: str) -> bool:
        if self._include and not any(_matches(p, url) for p in self._include):
            return False
        return not any(_matches(p, url) for p in self._exclude)


def _compile(pattern: str) -> tuple[bool, re.Pattern[str]]:
    return "://" in pattern, re.compile(fnmatch.translate(pattern), re.IGNORECASE)


def _matches(compiled: tuple[bool, re.Pattern[str]], url: str) -> bool:
    whole, regex = compiled
    if whole:
        return regex.match(url) is not None
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return regex.match(target) is not None
