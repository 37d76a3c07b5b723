"""robots.txt (RFC 9309): which paths the crawler may fetch, how slowly, and the sitemaps it names.

A missing robots.txt (any 4xx) allows everything; one that cannot be read (5xx, timeout, refused)
stops the sync before any page is fetched, as the RFC asks, and the source keeps its pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.robotparser import RobotFileParser

MAX_ROBOTS_BYTES = 512 * 1024
MAX_CRAWL_DELAY = 60.0


@dataclass
class RobotsRules:
    parser: RobotFileParser | None = None  # None: everything allowed
    user_agent: str = "*"
    sitemaps: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, user_agent: str) -> RobotsRules:
        parser = RobotFileParser()
        parser.parse(text.splitlines())
        return cls(parser, user_agent, list(parser.site_maps() or []))

    def allows(self, url: str) -> bool:
        return self.parser is None or self.parser.can_fetch(self.user_agent, url)

    @property
    def delay(self) -> float:
        """Seconds the site asks between requests (Crawl-delay, or 1/Request-rate), capped."""
        if self.parser is None:
            return 0.0
        delay = self.parser.crawl_delay(self.user_agent)
        rate = self.parser.request_rate(self.user_agent)
        seconds = float(delay) if delay else 0.0
        if rate and rate.requests:
            seconds = max(seconds, rate.seconds / rate.requests)
        return min(seconds, MAX_CRAWL_DELAY)
