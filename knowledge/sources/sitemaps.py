"""sitemap.xml and sitemap indexes (sitemaps.org), plain or gzipped, read without entity expansion."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from core.outbound import decompress

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the protocol's own limit, uncompressed
MAX_SITEMAPS = 50  # sitemap files read per sync (an index names its children)


@dataclass
class Sitemap:
    pages: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # further sitemaps an index names


def parse_sitemap(data: bytes) -> Sitemap | None:
    """The URLs a sitemap or index lists; None when the bytes are not a sitemap."""
    if data[:2] == b"\x1f\x8b":
        unpacked = decompress(data, "gzip", MAX_SITEMAP_BYTES)
        if unpacked is None:
            return None
        data = unpacked
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None or not isinstance(root.tag, str):
        return None
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        return None
    found = Sitemap()
    target = found.pages if kind == "urlset" else found.children
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        for child in entry:
            if isinstance(child.tag, str) and etree.QName(child).localname == "loc" and child.text:
                target.append(child.text.strip())
    return found
