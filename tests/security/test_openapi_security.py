"""Issue 20, API conventions: the OpenAPI document had no security schemes.

Swagger's "Authorize" button and generated clients had no way to send credentials. Now the document
declares `BearerAuth` (admin API keys and login tokens) and `WidgetKey` (`X-Widget-Key`), each
operation names the one it needs, and `POST /api/v1/chat` documents its `Idempotency-Key` header.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


async def test_security_schemes_are_declared_and_used(client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["BearerAuth"] == {**schemes["BearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["WidgetKey"] == {**schemes["WidgetKey"], "type": "apiKey", "in": "header", "name": "X-Widget-Key"}
    paths = schema["paths"]
    assert paths["/api/v1/documents"]["post"]["security"] == [{"BearerAuth": []}]
    assert paths["/api/v1/analytics/export"]["get"]["security"] == [{"BearerAuth": []}]
    assert paths["/api/v1/chat"]["post"]["security"] == [{"WidgetKey": []}]
    assert "security" not in paths["/api/v1/auth/login"]["post"] and "security" not in paths["/health"]["get"]
    for path, operations in paths.items():
        if path.startswith("/api/v1/") and path != "/api/v1/auth/login":
            for method, operation in operations.items():
                assert operation.get("security"), f"{method.upper()} {path} declares no security"
    chat_headers = {p["name"] for p in paths["/api/v1/chat"]["post"]["parameters"] if p["in"] == "header"}
    assert "Idempotency-Key" in chat_headers
