"""Static checks of the deployment: docker-compose.yml, the Dockerfile and deploy/ configs.

No Docker engine is needed: the compose file is validated against the Compose Specification
JSON schema (vendored by `check-jsonschema`) and against the rules the deployment relies on.
"""

from __future__ import annotations

import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
PROMETHEUS_CONF = ROOT / "deploy" / "prometheus.yml"

KEFU_SERVICES = {"migrate", "api", "worker", "dash"}
APP_SERVICES = {"api", "worker", "dash"}
MONITORING_SERVICES = {"prometheus", "grafana"}
PUBLISHING_SERVICES = {"proxy", "dash"} | MONITORING_SERVICES
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$|_KEY_ID$")
REQUIRED_VAR = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]*\}$")
URL_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<password>\$\{[^}]*\}|[^@\s]+)@")

Compose = dict[str, Any]
Services = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def compose() -> Compose:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: Compose) -> Services:
    return compose["services"]


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    """A service's environment as a mapping, whichever of the two compose forms it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test")
    assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"}, test
    return " ".join(test[1:])


# ---- (a) the Compose Specification -----------------------------------------------------------


def _compose_spec_validator() -> Any:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema ships the Compose Specification schema")
    import jsonschema

    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def _schema_errors(validator: Any, document: dict[str, Any]) -> list[str]:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def test_compose_file_follows_the_compose_specification(compose: Compose) -> None:
    assert _schema_errors(_compose_spec_validator(), compose) == []


def test_compose_specification_check_rejects_a_misspelt_key(compose: Compose) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["helthcheck"] = broken["services"]["api"].pop("healthcheck")
    assert any("helthcheck" in error for error in _schema_errors(_compose_spec_validator(), broken))


# ---- (b) rules the deployment relies on ------------------------------------------------------


def test_kefu_image_services_share_image_and_environment(compose: Compose, services: Services) -> None:
    kefu_image = compose["x-kefu-app"]["image"]
    shared_env = compose["x-kefu-env"]
    using_image = {name for name, service in services.items() if service.get("image") == kefu_image}
    assert using_image == KEFU_SERVICES
    for name in using_image:
        env = _environment(services[name])
        missing = {key: value for key, value in shared_env.items() if env.get(key, object()) != value}
        assert missing == {}, f"{name} lacks the shared x-kefu-env entries {sorted(missing)}"
        assert "build" in services[name], name


def test_shared_environment_runs_in_production_against_the_compose_services(compose: Compose) -> None:
    env = compose["x-kefu-env"]
    assert env["KEFU_ENV"] == "production"
    assert env["KEFU_DATABASE_URL"].endswith("@postgres:5432/kefu")
    assert env["KEFU_REDIS_URL"] == "redis://redis:6379/0"
    assert env["KEFU_DATA_DIR"] == "/data"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_api_and_worker_run_two_replicas(services: Services, name: str) -> None:
    assert services[name]["deploy"]["replicas"] == 2


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("migrate", "kefu db upgrade"),
        ("api", "kefu api --host 0.0.0.0 --port 8000"),
        ("worker", "kefu worker --processes 1 --threads 4"),
        ("dash", "kefu dash --host 0.0.0.0 --port 8050"),
    ],
)
def test_each_kefu_service_runs_its_command(services: Services, name: str, command: str) -> None:
    actual = services[name]["command"]
    assert (actual if isinstance(actual, list) else shlex.split(actual)) == command.split()


def test_every_dependency_names_a_condition(services: Services) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must be a mapping with conditions"
        for target, spec in depends_on.items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert spec.get("condition") in CONDITIONS, f"{name} -> {target}: {spec}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} (no healthcheck)"
            if not service.get("profiles"):
                assert not services[target].get("profiles"), f"{name} depends on profile-only {target}"


@pytest.mark.parametrize("name", ["postgres", "redis", "api", "dash"])
def test_core_services_have_healthchecks(services: Services, name: str) -> None:
    assert not services[name]["healthcheck"].get("disable", False)
    assert _healthcheck_command(services[name])


def test_healthchecks_probe_the_right_thing(services: Services) -> None:
    assert "pg_isready" in _healthcheck_command(services["postgres"])
    assert "redis-cli ping" in _healthcheck_command(services["redis"])
    api_check = _healthcheck_command(services["api"])
    assert "urllib" in api_check and "http://127.0.0.1:8000/ready" in api_check
    assert "http://127.0.0.1:8050/healthz" in _healthcheck_command(services["dash"])


def test_app_services_wait_for_healthy_stores_and_finished_migration(services: Services) -> None:
    for name in APP_SERVICES:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    migrate = services["migrate"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"


def test_no_hard_coded_secrets(compose: Compose, services: Services) -> None:
    environments = {"x-kefu-env": compose["x-kefu-env"]}
    environments.update({name: _environment(service) for name, service in services.items()})
    for owner, env in environments.items():
        for key, value in env.items():
            if SECRET_NAME.search(key):
                # Either required from the operator's environment or passed through when set.
                assert value is None or REQUIRED_VAR.match(str(value)), f"{owner}.{key} = {value!r}"
            for match in URL_PASSWORD.finditer(str(value or "")):
                assert REQUIRED_VAR.match(match["password"]), f"{owner}.{key} embeds a password"


def test_secrets_the_stack_needs_are_required(compose: Compose, services: Services) -> None:
    env = compose["x-kefu-env"]
    for key in ("KEFU_APP_DB_PASSWORD", "KEFU_SECRET_KEY"):
        assert REQUIRED_VAR.match(env[key]), key
    assert "${POSTGRES_PASSWORD:?" in env["KEFU_DATABASE_URL"]
    assert REQUIRED_VAR.match(_environment(services["postgres"])["POSTGRES_PASSWORD"])


def test_only_proxy_dash_and_monitoring_publish_ports(services: Services) -> None:
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing <= PUBLISHING_SERVICES
    assert {"proxy", "dash"} <= publishing
    for name in MONITORING_SERVICES:
        assert services[name]["profiles"] == ["monitoring"]
        for port in services[name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_uploads_volume_is_shared_by_api_and_worker(compose: Compose, services: Services) -> None:
    assert "uploads" in compose["volumes"]
    for name in ("api", "worker"):
        assert "uploads:/data" in services[name]["volumes"], name


def test_bind_mounted_files_exist(services: Services) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_proxy_forwards_http_and_websocket_upgrades_to_the_api(services: Services) -> None:
    assert any("deploy/nginx.conf" in volume for volume in services["proxy"]["volumes"])
    conf = NGINX_CONF.read_text(encoding="utf-8")
    assert "http://api:8000" in conf
    assert "location /api/v1/chat/ws" in conf
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", conf)
    assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade;", conf)
    assert re.search(r"proxy_http_version\s+1\.1;", conf)


def test_prometheus_scrapes_every_api_replica() -> None:
    config = yaml.safe_load(PROMETHEUS_CONF.read_text(encoding="utf-8"))
    api_jobs = [
        job
        for job in config["scrape_configs"]
        if any("api" in sd["names"] and sd["port"] == 8000 for sd in job.get("dns_sd_configs", []))
        or any("api:8000" in static["targets"] for static in job.get("static_configs", []))
    ]
    assert api_jobs and all(job.get("metrics_path", "/metrics") == "/metrics" for job in api_jobs)


def test_prometheus_scrapes_every_worker_replica_on_the_worker_metrics_port() -> None:
    from click.testing import CliRunner

    from backend.cli import main

    config = yaml.safe_load(PROMETHEUS_CONF.read_text(encoding="utf-8"))
    ports = [sd["port"] for job in config["scrape_configs"] for sd in job.get("dns_sd_configs", [])
             if "worker" in sd["names"]]
    help_text = CliRunner().invoke(main, ["worker", "--help"]).output
    assert ports == [9191] and "--metrics-port" in help_text and "9191" in help_text


def test_grafana_dashboard_queries_only_metrics_the_services_export() -> None:
    """Every panel's PromQL names a metric that core.metrics or the API's request middleware defines."""

    from prometheus_client import REGISTRY

    import core.metrics  # noqa: F401 - registers Kefu's metrics
    from backend.api.observability import prometheus

    known = {sample_family.name for sample_family in REGISTRY.collect()} | {"kefu_queue_messages"}
    known |= {f"{prometheus.prefix}_requests", f"{prometheus.prefix}_request_duration_seconds"}
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/kefu.yml").read_text(encoding="utf-8"))
    mounted = {v.split(":")[0] for v in yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]["grafana"]
               ["volumes"]}
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert "./deploy/grafana/dashboards" in mounted
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/kefu.json").read_text(encoding="utf-8"))
    assert len(dashboard["panels"]) >= 10
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = set(re.findall(r"\b(kefu_[a-z_]+?)(?:_bucket|_total|_count|_sum)?\b", target["expr"]))
            assert names and names <= known, (panel["title"], names - known)


# ---- (c) the Dockerfile ----------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_dockerfile_is_multi_stage_on_python_3_11_slim() -> None:
    instructions = _dockerfile_instructions()
    global_args = dict(
        arg.split("=", 1)
        for name, arg in instructions[: [n for n, _ in instructions].index("FROM")]
        if name == "ARG" and "=" in arg
    )
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: global_args[m[1]], arg.split()[0])
        for name, arg in instructions
        if name == "FROM"
    ]
    assert len(bases) >= 2
    assert bases[-1] == "python:3.11-slim"


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [arg.split(":")[0] for name, arg in _final_stage() if name == "USER"]
    assert users and users[-1] not in {"root", "0"}


def test_runtime_stage_carries_the_venv_migrations_and_widget() -> None:
    copies = [arg for name, arg in _final_stage() if name == "COPY"]
    assert any("--from=builder" in arg and "/opt/venv" in arg for arg in copies)
    for source in ("alembic.ini", "alembic/", "widget/"):
        assert any(arg.split()[0] == source for arg in copies), source
    stage = _final_stage()
    assert any(name == "ENV" and "KEFU_DATA_DIR=/data" in arg for name, arg in stage)
    assert any(name == "VOLUME" and "/data" in arg for name, arg in stage)
    cmd = [json.loads(arg) for name, arg in stage if name == "CMD"][-1]
    assert cmd == ["kefu", "api", "--host", "0.0.0.0", "--port", "8000"]
