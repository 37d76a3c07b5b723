"""What customer text may contain once it is past the chat boundary (HTTP and WebSocket alike).

Control characters have no place in a question or a comment, and they broke things downstream:
`\\u000b` cut a tenant's XLSX export mid-response and `\\uffff` made it 0 bytes. Rather than refuse
a customer whose browser or paste left one in, they are cleaned: line breaks become `\\n`, tabs stay,
every other control character (C0, DEL, C1), Unicode non-characters and lone surrogates are dropped.
"""

from __future__ import annotations

import re

_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\u0085]")
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ufdd0-\ufdef\ufffe\uffff\ud800-\udfff]")


def clean_customer_text(text: str) -> str:
    """The text without control characters, non-characters or lone surrogates; line breaks as `\\n`."""
    return _UNWANTED.sub("", _LINE_BREAKS.sub("\n", text))
