"""Structured output: a Pydantic class as a JSON schema, and the reply parsed back into it."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["json_schema", "parse_structured", "response_format"]


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = copy.deepcopy(defs[ref.split("/")[-1]])
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**target, **rest})
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def json_schema(model: type[BaseModel]) -> tuple[dict[str, Any], bool]:
    """The JSON schema of ``model`` with ``$ref``s inlined and no extra properties.

    Returns ``(schema, strict)``: ``strict`` is True when every property of every object
    is required, which OpenAI's strict mode demands.
    """
    schema = _inline_refs(copy.deepcopy(model.model_json_schema()))
    strict = True

    def walk(node: Any) -> None:
        nonlocal strict
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
                if set(node.get("required", [])) != set(node["properties"]):
                    strict = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema, strict


def response_format(model: type[BaseModel]) -> dict[str, Any]:
    """The ``response_format`` litellm passes to providers for ``model``."""
    schema, strict = json_schema(model)
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": schema, "strict": strict},
    }


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_structured(model: type[BaseModel], text: str | None) -> BaseModel:
    """Parse a reply into ``model``; raises ``ValueError`` with a message fit for the model.

    Accepts bare JSON or JSON inside a Markdown code fence.
    """
    if not text or not text.strip():
        raise ValueError(
            "The reply was empty; answer with one JSON object that matches the schema."
        )
    candidate = text.strip()
    fenced = _FENCE.search(candidate)
    if fenced:
        candidate = fenced.group(1).strip()
    try:
        data = json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"The reply is not valid JSON ({exc.msg} at position {exc.pos})."
        ) from None
    except RecursionError:
        raise ValueError("The reply is JSON nested too deeply to read; answer flatter.") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ValueError(
            f"The JSON does not match the {model.__name__} schema: {problems}."
        ) from None
