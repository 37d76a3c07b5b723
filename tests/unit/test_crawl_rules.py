"""Which URLs a crawl follows, robots.txt and sitemaps, and what is kept of an HTML page."""

from __future__ import annotations

import gzip

from knowledge.sources.extract import decode_page, extract_page
from knowledge.sources.robots import RobotsRules
from knowledge.sources.sitemaps import parse_sitemap
from knowledge.sources.urls import Scope, UrlPatterns, normalise
from tests.support.website import html


def test_urls_are_normalised_and_tracking_parameters_dropped() -> None:
    assert normalise("../b/./c?utm_source=x&id=3#top", "https://Shop.Example.com:443/a/x/") == \
        "https://shop.example.com/a/b/c?id=3"
    assert normalise("HTTP://shop.example.com") == "http://shop.example.com/"
    assert normalise("mailto:help@example.com") is None
    assert normalise("javascript:alert(1)") is None
    assert normalise("https://user:pw@shop.example.com/") is None
    assert normalise("//cdn.example.com/x.png", "https://shop.example.com/") == "https://cdn.example.com/x.png"


def test_scope_is_the_site_and_the_start_pages_folder() -> None:
    scope = Scope.of("https://www.shop.example.com/help/index.html")
    assert scope.contains("https://shop.example.com/help/returns")
    assert scope.contains("http://www.shop.example.com/help/zh/shipping")
    assert not scope.contains("https://shop.example.com/blog/post")
    assert not scope.contains("https://evil.example.com/help/returns")
    assert Scope.of("https://shop.example.com/sitemap.xml", whole_site=True).contains("https://shop.example.com/a")


def test_include_and_exclude_patterns() -> None:
    patterns = UrlPatterns(["/help/*", "https://shop.example.com/faq"], ["*/internal/*", "*?print=*"])
    assert patterns.allows("https://shop.example.com/help/returns")
    assert patterns.allows("https://shop.example.com/faq")
    assert not patterns.allows("https://shop.example.com/blog/x")
    assert not patterns.allows("https://shop.example.com/help/internal/x")
    assert not patterns.allows("https://shop.example.com/help/returns?print=1")
    assert UrlPatterns([], []).allows("https://shop.example.com/anything")


def test_robots_rules_delay_and_sitemaps() -> None:
    rules = RobotsRules.parse("User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n"
                              "Sitemap: https://shop.example.com/sitemap_index.xml\n", "KefuBot/1.0")
    assert rules.allows("https://shop.example.com/help")
    assert not rules.allows("https://shop.example.com/private/staff")
    assert rules.delay == 2.0 and rules.sitemaps == ["https://shop.example.com/sitemap_index.xml"]
    only_us = RobotsRules.parse("User-agent: KefuBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n", "KefuBot/1.0")
    assert not only_us.allows("https://shop.example.com/help")
    assert RobotsRules().allows("https://shop.example.com/anything")


def test_sitemaps_indexes_gzip_and_hostile_xml() -> None:
    urlset = (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              b"<url><loc> https://shop.example.com/a </loc><lastmod>2026-01-01</lastmod></url>"
              b"<url><loc>https://shop.example.com/b</loc></url></urlset>")
    assert parse_sitemap(urlset).pages == ["https://shop.example.com/a", "https://shop.example.com/b"]
    assert parse_sitemap(gzip.compress(urlset)).pages[1] == "https://shop.example.com/b"
    index = parse_sitemap(b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap>'
                          b"<loc>https://shop.example.com/s1.xml</loc></sitemap></sitemapindex>")
    assert index.children == ["https://shop.example.com/s1.xml"] and index.pages == []
    assert parse_sitemap(b"<html><body>not a sitemap</body></html>") is None
    assert parse_sitemap(b"\x00\x01 binary") is None
    entity = (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
              b'<urlset><url><loc>&x;</loc></url></urlset>')
    parsed = parse_sitemap(entity)
    assert parsed is None or all("root:" not in p for p in parsed.pages)


def test_main_content_keeps_headings_and_drops_navigation_cookie_banner_and_footer() -> None:
    page = extract_page(html("Returns | Shop", "<h1>Returns</h1><p>Return unused items within 30 days for a "
                             "refund.</p><h2>Exchanges</h2><p>Exchanges are free of charge in every store.</p>",
                             links=["/help", "/zh/"]), "https://shop.example.com/returns")
    assert page.title == "Returns | Shop"
    assert "# Returns" in page.markdown and "## Exchanges" in page.markdown
    for boilerplate in ("cookies", "Copyright", "Home"):
        assert boilerplate not in page.markdown
    assert page.links == ["https://shop.example.com/", "https://shop.example.com/help", "https://shop.example.com/zh/"]


def test_noindex_nofollow_and_pages_without_an_article() -> None:
    hidden = extract_page(html("x", "<p>Secret draft page text.</p>",
                               extra_head='<meta name="robots" content="noindex, nofollow">', links=["/a"]),
                          "https://shop.example.com/draft")
    assert hidden.noindex and hidden.links == []
    plain = extract_page("<html><body><div>Opening hours: 9:00-18:00 every day.</div></body></html>",
                         "https://shop.example.com/hours")
    assert "Opening hours" in plain.markdown


def test_chinese_pages_in_gbk_are_decoded_by_header_meta_or_detection() -> None:
    text = html("配送", "<h1>配送说明</h1><p>全国包邮，订单满九十九元免运费，一般三个工作日内发货。</p>", charset="gbk")
    body = text.encode("gbk")
    assert "全国包邮" in decode_page(body, "text/html; charset=GB2312")
    assert "全国包邮" in decode_page(body, "text/html")  # the page's own <meta charset>
    undeclared = text.replace('<meta charset="gbk">', "").encode("gbk")
    assert "全国包邮" in decode_page(undeclared, None)
    assert "全国包邮" in decode_page(text.encode("utf-8"), "text/html; charset=utf-8")
    page = extract_page(decode_page(body, None), "https://shop.example.com/zh/shipping")
    assert "# 配送说明" in page.markdown and "免运费" in page.markdown
