"""The client's network address, as the trusted proxy chain reports it.

uvicorn rewrites the connection's client from `X-Forwarded-For` only when the connection comes from
an address in `FORWARDED_ALLOW_IPS` (the proxy's own; default 127.0.0.1), taking the right-most
entry the proxy itself added. A client talking to the API directly cannot choose its address by
sending the header, so the login lockout and the per-address chat limit key on what this returns.
"""

from __future__ import annotations

from typing import Any


def client_address(connection: Any) -> str | None:
    """The address of an HTTP request or WebSocket (None when the server does not know it)."""
    client = getattr(connection, "client", None)
    return client.host if client is not None and client.host else None
