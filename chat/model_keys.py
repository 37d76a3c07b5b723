"""A tenant's model API keys: write-only, sealed at rest in `tenants.model_secrets`.

All of a tenant's keys are one sealed JSON object ({"api_key": ..., "fallback_api_key": ...,
"transcription_api_key": ...}), so
the column never holds a key in clear and a dump of `tenants` shows only ciphertext. They are
unsealed only to build a provider or transcription client (chat.model_choice, chat.voice) and are
never returned, logged, audited or exported: the API and the admin app show `api_key_set: true|false`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core import sealing
from core.errors import ValidationFailed

KEY_FIELDS = ("api_key", "fallback_api_key", "transcription_api_key")
_PURPOSE = "model api keys v1"
_KEY = re.compile(r"^[\x21-\x7e]{1,500}$")  # printable ASCII without spaces: what every vendor issues


def unsealed(sealed: str | None) -> dict[str, str]:
    """The keys in clear ({} when none are set, or KEFU_SECRET_KEY changed since they were)."""
    raw = sealing.unseal(sealed, _PURPOSE)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {k: v for k, v in value.items() if k in KEY_FIELDS and isinstance(v, str)} if isinstance(value, dict) else {}


def updated(sealed: str | None, changes: dict[str, Any]) -> str | None:
    """The sealed keys after `changes` (a key set to None or "" is removed); refuses malformed keys."""
    keys = unsealed(sealed)
    for name, value in changes.items():
        if value is None or value == "":
            keys.pop(name, None)
        elif not isinstance(value, str) or not _KEY.fullmatch(value.strip()):
            raise ValidationFailed(
                f"{name} must be the key as the vendor issued it: 1-500 printable characters "
                "without spaces (or null to remove it)."
            )
        else:
            keys[name] = value.strip()
    return sealing.seal(json.dumps(keys), _PURPOSE) if keys else None
