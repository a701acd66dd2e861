"""A small JSON Schema validator for the subset briefbot's prompts use.

Supported keywords: ``type`` (object, array, string, integer, number, boolean, null, or a
list of them), ``properties``, ``required``, ``additionalProperties`` (false or a schema),
``items``, ``enum``, ``const``, ``anyOf``, ``minItems``/``maxItems``, ``minimum``/``maximum``.
Other keywords (descriptions, formats) are ignored. The first problem found is returned
as one line naming where it is (``$.stories[2].title: expected string, got integer``).
"""

from __future__ import annotations

import json
from typing import Any

_TYPE_NAMES = {
    "object": "object",
    "array": "array",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    actual = _type_of(value)
    return actual == name or (name == "number" and actual == "integer")


def schema_error(value: Any, schema: dict[str, Any], path: str = "$") -> str | None:
    """The first way ``value`` breaks ``schema`` as a one-line message, or None when it fits."""
    if "anyOf" in schema:
        errors = [schema_error(value, option, path) for option in schema["anyOf"]]
        if all(errors):
            return errors[0] if len(errors) == 1 else f"{path}: matches none of the allowed forms"
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is_type(value, name) for name in names):
            wanted = " or ".join(_TYPE_NAMES.get(n, str(n)) for n in names)
            return f"{path}: expected {wanted}, got {_type_of(value)}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: must be {json.dumps(schema['const'])}"
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        return f"{path}: {json.dumps(value)[:60]} is not one of {allowed}"
    if isinstance(value, dict):
        return _object_error(value, schema, path)
    if isinstance(value, list):
        return _array_error(value, schema, path)
    if _type_of(value) in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: {value} is less than {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: {value} is more than {schema['maximum']}"
    return None


def _object_error(value: dict[str, Any], schema: dict[str, Any], path: str) -> str | None:
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            return f"{path}: missing required property {name!r}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties:
            error = schema_error(item, properties[name], where)
        elif extra is False:
            error = f"{path}: unexpected property {name!r}"
        elif isinstance(extra, dict):
            error = schema_error(item, extra, where)
        else:
            error = None
        if error:
            return error
    return None


def _array_error(value: list[Any], schema: dict[str, Any], path: str) -> str | None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        return f"{path}: needs at least {schema['minItems']} items, got {len(value)}"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{path}: allows at most {schema['maxItems']} items, got {len(value)}"
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            error = schema_error(item, items, f"{path}[{index}]")
            if error:
                return error
    return None
