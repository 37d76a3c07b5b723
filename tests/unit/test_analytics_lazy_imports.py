"""Two analytics actors starting at once in one worker process both get scikit-learn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter (scikit-learn not yet imported) with two threads doing what the satisfaction and
# knowledge-gap actors do first, released together by a barrier.
RACE = """
import threading
from analytics.tasks import lazy_module

barrier = threading.Barrier(2)
errors = []

def load(name):
    barrier.wait()
    try:
        lazy_module(name)
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=load, args=(name,)) for name in ("analytics.training", "analytics.gap_topics")]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("errors:", errors)
"""


def test_concurrent_first_imports_of_scikit_learn_both_succeed() -> None:
    # Without the lock this failed in every run here ("cannot import name 'clone' from partially
    # initialized module 'sklearn.base'"); two runs make a lucky interleaving unlikely to hide it.
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", RACE], cwd=ROOT, capture_output=True, text=True, timeout=180,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-2000:]
        assert "errors: []" in done.stdout, done.stdout
