"""Built-in presets for tenant HTTP tools: a definition to start from, editable before it is saved.

`weather` works as it is (Open-Meteo needs no key). `order_status` and `business_hours` call the
tenant's own systems, so their address must be the tenant's: saving one whose `url_template` still
points at the example host is refused with a message saying what to fill in.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from core.errors import NotFound, ValidationFailed

EXAMPLE_HOST = "shop.example.com"

TEMPLATES: dict[str, dict[str, Any]] = {
    "weather": {
        "title": {"en": "Weather (Open-Meteo, no key)", "zh": "天气（Open-Meteo，无需密钥）"},
        "needs": [],
        "spec": {
            "name": "weather",
            "description": "Current weather and the next three days' forecast for a place. Give the place's "
            "latitude and longitude in decimal degrees (you know them for cities). Temperatures "
            "are in °C; weather_code is the WMO code.",
            "url_template": "https://api.open-meteo.com/v1/forecast?current=temperature_2m,relative_humidity_2m,"
            "weather_code,wind_speed_10m&daily=weather_code,temperature_2m_max,temperature_2m_min,"
            "precipitation_probability_max&timezone=auto&forecast_days=3",
            "parameters": {
                "type": "object",
                "properties": {
                    "latitude": {"type": "number", "description": "e.g. 31.23 for Shanghai"},
                    "longitude": {"type": "number", "description": "e.g. 121.47 for Shanghai"},
                },
                "required": ["latitude", "longitude"],
            },
            "method": "GET",
            "timeout_seconds": 5.0,
        },
    },
    "order_status": {
        "title": {"en": "Order status (your own API)", "zh": "订单状态（您自己的接口）"},
        "needs": ["url_template"],
        "spec": {
            "name": "order_status",
            "description": "Look up an order's status, carrier and tracking number by the order number the "
            "customer gives.",
            "url_template": f"https://{EXAMPLE_HOST}/api/orders/{{order_id}}",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "the order number, e.g. 10023"}},
                "required": ["order_id"],
            },
            "method": "GET",
            "timeout_seconds": 5.0,
            "secret_header_name": "Authorization",
            "secret_header_value": "Bearer your-api-token",
        },
    },
    "business_hours": {
        "title": {"en": "Business hours (your own API)", "zh": "营业时间（您自己的接口）"},
        "needs": ["url_template"],
        "spec": {
            "name": "business_hours",
            "description": "Today's opening hours and holiday closures of the shop (optionally for one store "
            "or a given date, YYYY-MM-DD).",
            "url_template": f"https://{EXAMPLE_HOST}/api/opening-hours",
            "parameters": {
                "type": "object",
                "properties": {
                    "store": {"type": "string", "description": "a store name or id, if the shop has several"},
                    "date": {"type": "string", "description": "YYYY-MM-DD; today if not given"},
                },
            },
            "method": "GET",
            "timeout_seconds": 5.0,
        },
    },
}


def list_templates(language: str = "en") -> list[dict[str, Any]]:
    """Every preset: its id, title in `language`, the fields to fill in and the definition."""
    return [
        {
            "id": key,
            "title": t["title"].get(language, t["title"]["en"]),
            "needs": list(t["needs"]),
            "spec": copy.deepcopy(t["spec"]),
        }
        for key, t in TEMPLATES.items()
    ]


def template_spec(template: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The preset's definition with `overrides` applied (any tool field); refuses unfilled examples."""
    preset = TEMPLATES.get(template)
    if preset is None:
        raise NotFound(f"No tool template '{template}'; available: {', '.join(TEMPLATES)}.")
    return filled({**copy.deepcopy(preset["spec"]), **dict(overrides or {})})


def filled(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` checked for a preset's unfilled examples: the example address is refused, the example
    token dropped (it is no secret: without a real one the tool calls the endpoint without it)."""
    spec = dict(spec)
    for key, preset in TEMPLATES.items():
        example = preset["spec"]
        if "url_template" in preset["needs"] and spec.get("url_template") == example["url_template"]:
            raise ValidationFailed(
                f"The {key} template calls your own system: set url_template to your "
                f"endpoint (it still points at {EXAMPLE_HOST})."
            )
        if example.get("secret_header_value") and spec.get("secret_header_value") == example["secret_header_value"]:
            spec.pop("secret_header_name", None)
            spec.pop("secret_header_value", None)
    return spec
