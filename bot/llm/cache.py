"""Keys of the model response cache (the rows live in the store's ``llm_cache`` table)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any


def canonical_json(value: Any) -> str:
    """``value`` as JSON with sorted keys and no insignificant whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def cache_key(
    *,
    model: str,
    prompt: str,
    version: str,
    schema_name: str,
    messages: Sequence[dict[str, Any]],
    parts: Sequence[str] | None = None,
) -> str:
    """sha256 hex of the model, prompt, its version, the schema name and the input.

    The input is the messages, or ``parts`` when the caller names what the answer depends
    on (story ids and their update times, say) rather than the exact wording sent.
    """
    payload = list(parts) if parts is not None else list(messages)
    text = canonical_json([model, prompt, version, schema_name, payload])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
