"""The embedded PostgreSQL's memory settings: sized from RAM, overridable, written once."""

from __future__ import annotations

from core.pg_memory import auto_sizes, memory_settings, write_conf
from core.settings import Settings

GB = 1024**3


def test_auto_sizes_follow_ram_within_bounds() -> None:
    assert auto_sizes(16 * GB) == {"shared_buffers": "4096MB", "effective_cache_size": "8192MB",
                                   "work_mem": "64MB", "maintenance_work_mem": "1024MB"}
    small = auto_sizes(1 * GB)
    assert small["shared_buffers"] == "256MB" and small["work_mem"] == "4MB"
    assert auto_sizes(256 * GB)["shared_buffers"] == "8192MB"  # capped


def test_environment_overrides_win_over_auto(monkeypatch) -> None:
    monkeypatch.setenv("KEFU_EMBEDDED_PG_SHARED_BUFFERS", "1GB")
    sizes = memory_settings(Settings(), 16 * GB)
    assert sizes["shared_buffers"] == "1GB" and sizes["work_mem"] == "64MB"


def test_conf_is_included_once_and_rewritten_only_on_change(tmp_path) -> None:
    (tmp_path / "postgresql.conf").write_text("max_connections = 100\n")
    sizes = auto_sizes(8 * GB)
    assert write_conf(tmp_path, sizes)
    assert not write_conf(tmp_path, sizes)
    assert (tmp_path / "postgresql.conf").read_text().count("include_if_exists = 'kefu.conf'") == 1
    assert "shared_buffers = '2048MB'" in (tmp_path / "kefu.conf").read_text()
    assert write_conf(tmp_path, {**sizes, "work_mem": "8MB"})
