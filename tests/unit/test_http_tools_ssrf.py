"""HTTP tools: which destinations are refused (SSRF), which definitions and arguments are refused."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from chat.http_tool_specs import validate_tool_spec
from chat.http_tools import call_http_tool, validate_arguments
from core.errors import ValidationFailed
from core.models import HttpTool
from core.outbound import UnsafeDestinationError, is_forbidden_address, resolve_destination

FORBIDDEN = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
    "64:ff9b::127.0.0.1",
    "::127.0.0.1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888"]

PARAMETERS = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "metric": {"type": "boolean"},
        "lat": {"type": "number"},
        "unit": {"type": "string", "enum": ["c", "f"]},
    },
    "required": ["city"],
}


def spec(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "weather",
        "description": "Current weather for a city",
        "parameters": PARAMETERS,
        "url_template": "https://api.example.com/v1/weather/{city}",
    }
    return base | overrides


@pytest.mark.parametrize("address", FORBIDDEN)
def test_private_loopback_link_local_and_embedded_forms_are_forbidden(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "2130706433", "0x7f.1", "127.1", "::1"])
async def test_hostnames_and_numeric_forms_resolving_to_loopback_are_refused(host: str) -> None:
    with pytest.raises(UnsafeDestinationError, match="private"):
        await resolve_destination(host, 80, allow_private=False)


async def test_the_operator_switch_allows_private_destinations() -> None:
    assert "127.0.0.1" in await resolve_destination("localhost", 80, allow_private=True)


async def test_calling_a_tool_on_localhost_returns_an_error_not_an_exception() -> None:
    tool = HttpTool(
        name="local",
        description="d",
        parameters=PARAMETERS,
        method="GET",
        enabled=True,
        url_template="http://localhost:9/{city}",
        timeout_seconds=2.0,
    )
    result = await call_http_tool(tool, {"city": "x"}, allow_private=False)
    assert "private" in result["error"]


@pytest.mark.parametrize(
    "template",
    [
        "https://{host}/v1",
        "https://api.{city}.example.com/",
        "https://api.example.com:{city}/x",
        "http://user:pw@api.example.com/{city}",
    ],
)
def test_placeholders_or_credentials_in_the_host_are_refused(template: str) -> None:
    props = {"type": "object", "properties": {"host": {"type": "string"}, "city": {"type": "string"}}}
    with pytest.raises(ValidationFailed):
        validate_tool_spec(spec(url_template=template, parameters=props))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "lookup_record"}, "built-in"),
        ({"name": "9lives"}, "name must"),
        ({"url_template": "ftp://api.example.com/{city}"}, "http://"),
        ({"url_template": "https://api.example.com/{town}"}, "{town}"),
        ({"url_template": "https://api.example.com/{city"}, "unbalanced"),
        ({"method": "DELETE"}, "GET or POST"),
        ({"timeout_seconds": 60}, "timeout_seconds"),
        ({"timeout_seconds": 0.1}, "timeout_seconds"),
        ({"parameters": {"type": "array"}}, "JSON schema object"),
        ({"parameters": {"type": "object", "properties": {"x": {"type": "date"}}}}, "needs a type"),
        ({"secret_header_name": "X-Key"}, "both"),
        ({"secret_header_name": "Host", "secret_header_value": "v"}, "header name"),
        ({"secret_header_name": "X-Key", "secret_header_value": "a\r\nInjected: 1"}, "one line"),
        ({"colour": "red"}, "Unknown field"),
    ],
)
def test_bad_definitions_are_refused_with_a_reason(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message.replace("{", r"\{")):
        validate_tool_spec(spec(**overrides))


def test_a_good_definition_is_normalised() -> None:
    values = validate_tool_spec(
        spec(method="post", timeout_seconds=2, secret_header_name="X-Api-Key", secret_header_value="s3cret")
    )
    assert values["method"] == "POST" and values["timeout_seconds"] == 2.0
    assert values["secret_header_value"] == "s3cret" and values["enabled"] is True


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({}, "missing required argument 'city'"),
        ({"city": None}, "missing required argument 'city'"),
        ({"city": "Paris", "country": "FR"}, "unknown argument(s) country"),
        ({"city": 75}, "'city' must be a string"),
        ({"city": "Paris", "days": "3"}, "'days' must be a integer"),
        ({"city": "Paris", "days": 2.5}, "'days' must be a integer"),
        ({"city": "Paris", "days": True}, "'days' must be a integer"),
        ({"city": "Paris", "metric": "yes"}, "'metric' must be a boolean"),
        ({"city": "Paris", "lat": "48.8"}, "'lat' must be a number"),
        ({"city": "Paris", "unit": "k"}, "'unit' must be one of"),
        (["Paris"], "must be a JSON object"),
    ],
)
def test_bad_arguments_are_described(args: Any, problem: str) -> None:
    assert problem in (validate_arguments(PARAMETERS, args) or "")


def test_good_arguments_pass() -> None:
    args = {"city": "巴黎", "days": 3, "metric": False, "lat": 48.85, "unit": "c"}
    assert validate_arguments(PARAMETERS, args) is None
    assert validate_arguments(PARAMETERS, {"city": "Paris", "days": 3.0}) is None


def test_placeholder_parameters_are_required_at_call_time() -> None:
    params = {"type": "object", "properties": {"sku": {"type": "string"}}}
    assert validate_arguments(params, {}, ["sku"]) == "missing required argument 'sku'"
