"""Memory settings of the embedded PostgreSQL, sized from the machine's RAM unless overridden.

PostgreSQL's defaults (128 MB shared_buffers, 4 MB work_mem, 64 MB maintenance_work_mem) are sized
for a small shared host. At a million 384-dim chunks the table and a large tenant's HNSW index do
not fit in 128 MB, so every search reads pages back from the kernel, and building an HNSW index
with 64 MB of maintenance memory spills to disk and takes many times longer. The usual rules of
thumb, capped so a laptop or CI runner is not starved:

- shared_buffers 25% of RAM (at most 8 GB), effective_cache_size 50% (a planner hint, nothing is
  allocated), work_mem RAM/256 between 4 and 64 MB (per sort or hash, many may run at once),
  maintenance_work_mem RAM/16 between 64 MB and 2 GB (index builds, VACUUM).

Each can be set with `KEFU_EMBEDDED_PG_<NAME>` (e.g. `KEFU_EMBEDDED_PG_SHARED_BUFFERS=1GB`);
docker-compose.yml sets the same four on its postgres service.
"""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings

CONF_NAME = "kefu.conf"
_INCLUDE = f"include_if_exists = '{CONF_NAME}'"
_MB = 1024 * 1024


def _mb(value: float, low: int, high: int) -> str:
    return f"{int(min(max(value / _MB, low), high))}MB"


def auto_sizes(ram_bytes: int) -> dict[str, str]:
    """The four memory settings for a machine with `ram_bytes` of RAM."""
    return {
        "shared_buffers": _mb(ram_bytes / 4, 128, 8192),
        "effective_cache_size": _mb(ram_bytes / 2, 512, 65536),
        "work_mem": _mb(ram_bytes / 256, 4, 64),
        "maintenance_work_mem": _mb(ram_bytes / 16, 64, 2048),
    }


def memory_settings(settings: Settings, ram_bytes: int) -> dict[str, str]:
    """Auto sizes with the `KEFU_EMBEDDED_PG_*` overrides applied."""
    sizes = auto_sizes(ram_bytes)
    for name in sizes:
        value = str(getattr(settings, f"embedded_pg_{name}")).strip()
        if value and value.lower() != "auto":
            sizes[name] = value
    return sizes


def write_conf(pg_dir: Path, sizes: dict[str, str]) -> bool:
    """Write `kefu.conf` and include it from postgresql.conf; True when either file changed."""
    conf = pg_dir / CONF_NAME
    body = "# Written by Kefu (core/pg_memory.py) at every start; set KEFU_EMBEDDED_PG_* to change.\n" + "".join(
        f"{name} = '{value}'\n" for name, value in sizes.items())
    changed = not conf.exists() or conf.read_text() != body
    if changed:
        conf.write_text(body)
    main = pg_dir / "postgresql.conf"
    if _INCLUDE not in main.read_text():
        with main.open("a") as handle:
            handle.write(f"\n{_INCLUDE}\n")
        changed = True
    return changed
