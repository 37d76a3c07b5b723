"""The local blob store keeps originals under KEFU_DATA_DIR and refuses keys that escape it."""

from __future__ import annotations

import pytest

from core.blobstore import LocalBlobStore


def test_put_get_delete(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("tenants/a/file.csv", b"data")
    assert store.get("tenants/a/file.csv") == b"data"
    store.delete("tenants/a/file.csv")
    with pytest.raises(FileNotFoundError):
        store.get("tenants/a/file.csv")


def test_keys_cannot_escape_the_store(tmp_path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError, match="escapes"):
        store.put("../outside.txt", b"x")
    assert not (tmp_path / "outside.txt").exists()
