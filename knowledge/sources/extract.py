"""A fetched HTML page as what a customer would read: title, main content as Markdown, and links.

The main content comes from trafilatura (navigation, headers, footers, cookie banners and other
boilerplate dropped; headings, lists and tables kept as Markdown, so the indexer's Markdown parser
makes one section per heading). A page trafilatura finds nothing in falls back to the upload HTML
parser (scripts, styles and navigation dropped). Text is decoded by the HTTP charset, then the
page's own declaration, then detection, with GB2312/GBK read as GB18030.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.settings import use_config

from knowledge.parsing.html_text import decode_html, parse_html
from knowledge.parsing.passage import clean_text
from knowledge.sources.urls import normalise

MAX_LINKS = 1000  # per page; a page linking more is an index the sitemap should describe
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-]+)", re.IGNORECASE)
_GB = {"gb2312", "gbk", "x-gbk", "gb_2312-80", "csgb2312", "euc-cn"}


@dataclass
class PageContent:
    title: str
    markdown: str  # the main content; empty when the page has none
    links: list[str] = field(default_factory=list)  # absolute, normalised, in page order
    noindex: bool = False  # <meta name="robots" content="noindex">
    nofollow: bool = False


def decode_page(body: bytes, content_type: str | None) -> str:
    """The page's text: the HTTP charset if it names a real one, else `decode_html`'s rules."""
    match = _CHARSET.search(content_type or "")
    if match:
        declared = match.group(1).lower()
        encoding = "gb18030" if declared in _GB else declared
        try:
            codecs.lookup(encoding)
            return clean_text(body.decode(encoding).removeprefix("\ufeff"))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong header is common: fall through to the page's own declaration
    return decode_html(body)


@lru_cache(maxsize=1)
def _config():  # type: ignore[no-untyped-def]
    config = use_config()
    # Short help pages ("Opening hours: 9-18") are content too; trafilatura's defaults drop
    # anything under 250 characters. Its timeout uses SIGALRM, which only works on the main
    # thread; the crawl runs in a worker thread and bounds its own time.
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "20")
    config.set("DEFAULT", "MIN_OUTPUT_SIZE", "10")
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    return config


def extract_page(html: str, url: str) -> PageContent:
    """Title, main content (Markdown) and same-document links of an HTML page."""
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8"), parser=_html_parser())
    except (etree.ParserError, ValueError):
        return PageContent(title="", markdown="")
    title = " ".join((tree.findtext(".//title") or "").split())
    robots = " ".join(m.get("content", "") for m in tree.iterfind(".//meta[@name]")
                      if m.get("name", "").lower() in ("robots", "kefubot")).lower()
    links = [] if "nofollow" in robots else _links(tree, url)
    markdown = trafilatura.extract(
        tree, url=url, output_format="markdown", include_formatting=True, include_tables=True,
        include_links=False, include_images=False, include_comments=False, favor_recall=True,
        config=_config(),
    ) or ""  # fmt: skip
    if not markdown.strip():
        markdown = _fallback_markdown(html)
    return PageContent(title or url, clean_text(markdown).strip(), links, "noindex" in robots, "nofollow" in robots)


@lru_cache(maxsize=1)
def _html_parser() -> lxml.html.HTMLParser:
    return lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, no_network=True)


def _links(tree: lxml.html.HtmlElement, url: str) -> list[str]:
    base = url
    base_tag = tree.find(".//base[@href]")
    if base_tag is not None:
        base = normalise(base_tag.get("href", ""), url) or url
    found: dict[str, None] = {}
    for anchor in tree.iterfind(".//a[@href]"):
        if "nofollow" in (anchor.get("rel") or "").lower():
            continue
        link = normalise(anchor.get("href", ""), base)
        if link is not None and link != url:
            found[link] = None
            if len(found) >= MAX_LINKS:
                break
    return list(found)


def _fallback_markdown(html: str) -> str:
    """The upload parser's sections, written back as Markdown headings and paragraphs."""
    parts = []
    for section in parse_html(html):
        body = section.text
        if section.heading_path:
            heading = section.heading_path[-1]
            body = body.removeprefix(heading).lstrip()
            parts.append("#" * min(len(section.heading_path), 6) + " " + heading)
        parts.append(body)
    return "\n\n".join(p for p in parts if p.strip())
