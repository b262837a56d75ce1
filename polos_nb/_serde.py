"""Typed JSON: how values are written to the journal and read back exactly (D2).

JSON's own values (``None``, ``bool``, ``int``, ``str``, finite ``float``, lists and
dicts with string keys) are written as themselves, so journal rows stay readable with
plain SQL. Everything else becomes a small tagged object ``{"$t": TAG, ...}``:

=============  =====================================================
tag            value
=============  =====================================================
``model``      a Pydantic model: ``cls`` (``module:Qualname``) + ``v``
``datetime``   ISO 8601 (``date``, ``time``, ``timedelta`` alike)
``bytes``      base64
``tuple``      list of items (``set``/``frozenset`` alike)
``float``      ``"nan"``, ``"inf"`` or ``"-inf"``
``dict``       list of ``[key, value]`` pairs, for non-string keys or a
               dict that itself has a ``"$t"`` key
``decimal``,   the value's string form
``uuid``
``enum``       ``cls`` + the member's value
``dataclass``  ``cls`` + fields
``view``       a :class:`ModelView`: the typed value it views, in ``v``
``secret``     ``id``: the fingerprint of a registered credential, never
               the credential (``polos_nb._secrets``)
=============  =====================================================

Credentials never enter the journal: a string that is a registered credential is
written as a ``secret`` tag (read back as the credential by a process that knows it, as
``"[redacted]"`` elsewhere), and a credential inside other text is replaced by
``[redacted]``.

A class can ask to be journaled like a model (``cls`` + ``v``, read back with
``cls.model_validate(v)``) by setting ``__serde_model__ = True``; the engine's
``EventPayload`` (a dict) does.

Classes are found again by module and qualified name. Classes defined in a notebook cell
(module ``__main__``) or inside a function are remembered when first written, so a run
replayed in the same kernel gets the same class; after a kernel restart the class is looked
up in ``__main__`` again, so re-running the cell that defines it is enough (until then,
reading such a value raises :class:`UnresolvedClassError` and the run waits for it).

What cannot be journaled is refused here, before anything is written, with a
:class:`SerializationError` that says where in the value the problem is: text holding a
lone UTF-16 surrogate (half of an emoji, not valid Unicode, which no UTF-8 store can
hold), values nested more than ``MAX_DEPTH`` levels deep or containing themselves, and
types without a journal form.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import json
import math
import sys
import uuid
from typing import Any

from pydantic import BaseModel

from polos_nb import _secrets
from polos_nb._journal_names import PUBLIC_PACKAGES, RENAMED
from polos_nb.errors import SerializationError, UnresolvedClassError

__all__ = [
    "MAX_DEPTH",
    "ModelView",
    "UnresolvedValue",
    "clean_text",
    "decode",
    "dumps",
    "encode",
    "jsonable",
    "loads",
    "qualified_name",
    "resolvable",
    "typed",
    "view",
]

MAX_DEPTH = 200
"""Deepest nesting of lists, dicts and objects a journaled value may have."""

_TAG = "$t"
_CLASSES: dict[str, type] = {}
_SECRET_IDS = _secrets._by_value  # credential -> fingerprint (the registry's own dict)


class UnresolvedValue(dict[str, Any]):
    """A tagged value whose class is not defined in this process (read with ``strict=False``)."""

    @property
    def class_name(self) -> str:
        return str(self.get("cls", "?"))


class ModelView(dict[str, Any]):
    """A value's JSON data, as upstream Polos hands it out, that still answers its attributes.

    ``v["field"]``, ``v.get("field")`` and ``json.dumps(v)`` see plain JSON data (a
    Pydantic model's ``model_dump``, datetimes as ISO text); ``v.field`` reads the typed
    object the data came from, so ``result.charge_id`` and ``result["charge_id"]`` both
    work. :func:`typed` returns that object. Built by :func:`view`.
    """

    __slots__ = ("_typed",)

    def __init__(self, data: dict[str, Any], typed_value: Any = None) -> None:
        super().__init__(data)
        object.__setattr__(self, "_typed", typed_value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = object.__getattribute__(self, "_typed")
        if value is not None:
            return getattr(value, name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        value = object.__getattribute__(self, "_typed")
        return sorted(set(super().__dir__()) | set(dir(value) if value is not None else self))

    def __reduce__(self) -> Any:
        return (ModelView, (dict(self), object.__getattribute__(self, "_typed")))

    def __copy__(self) -> ModelView:
        return ModelView(dict(self), object.__getattribute__(self, "_typed"))

    def __deepcopy__(self, memo: dict[int, Any]) -> ModelView:
        import copy

        return ModelView(
            copy.deepcopy(dict(self), memo),
            copy.deepcopy(object.__getattribute__(self, "_typed"), memo),
        )


def typed(value: Any) -> Any:
    """The typed object behind a :class:`ModelView` (anything else is returned as is)."""
    if isinstance(value, ModelView):
        inner = object.__getattribute__(value, "_typed")
        return inner if inner is not None else value
    return value


def jsonable(value: Any) -> Any:
    """Plain JSON data for ``value``: models dumped, datetimes as ISO text, tuples as lists.

    Dict keys become strings; a value JSON cannot hold becomes its ``str``.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        if isinstance(value, UnresolvedValue):
            return jsonable(value.get("v"))
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump())
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def view(value: Any) -> Any:
    """JSON data for ``value`` where a model (or dataclass) becomes a :class:`ModelView`.

    Containers are walked, so ``view({"result": model})["result"]`` is a view too. The
    result is always ``json.dumps``-able.
    """
    if isinstance(value, ModelView):
        return value
    if isinstance(value, UnresolvedValue):
        inner = value.get("v")
        return ModelView(jsonable(inner)) if isinstance(inner, dict) else jsonable(inner)
    if isinstance(value, BaseModel) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        data = jsonable(value)
        return ModelView(data, value) if isinstance(data, dict) else data
    if isinstance(value, dict):
        if getattr(type(value), "__serde_model__", False):
            return value
        return {str(k): view(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [view(v) for v in value]
    return jsonable(value)


def qualified_name(cls: type) -> str:
    """``module:Qualname`` of a class, as stored in the journal.

    polos_nb's own classes are named by the package that exports them
    (``polos_nb:EventPayload``), not by their private module (see ``_journal_names``).
    A class listed in ``RENAMED`` keeps the name given there, even when it is later
    exported from another package too (e.g. also at the top level).
    """
    module = cls.__module__
    if module.startswith("polos_nb.") and "._" in f".{module}":
        public = _PUBLIC.get(cls)
        if public is None:
            public = _fixed_name(cls) or _public_name(cls)
            if public is not None:
                _PUBLIC[cls] = public
        if public is not None:
            return public
    return f"{module}:{cls.__qualname__}"


_PUBLIC: dict[type, str] = {}


def _fixed_name(cls: type) -> str | None:
    # The public name RENAMED gave this class, while that package (imported) still offers it.
    name = RENAMED.get(f"{cls.__module__}:{cls.__qualname__}")
    if name is None:
        return None
    package, _, qualname = name.partition(":")
    module = sys.modules.get(package)
    return name if module is not None and getattr(module, qualname, None) is cls else None


def _public_name(cls: type) -> str | None:
    # Only packages already imported are looked at: a class of polos_nb is defined once
    # its package is being imported, and this module never imports upward.
    for package in PUBLIC_PACKAGES:
        module = sys.modules.get(package)
        if module is not None and getattr(module, cls.__qualname__, None) is cls:
            return f"{package}:{cls.__qualname__}"
    return None


def _remember(cls: type) -> str:
    name = qualified_name(cls)
    _CLASSES[name] = cls
    return name


def _resolve(name: str) -> type | None:
    name = RENAMED.get(name, name)  # a journal from before schema 7: private module paths
    module_name, _, qualname = name.partition(":")
    module = sys.modules.get(module_name)
    if module is None and module_name != "__main__":
        try:
            module = importlib.import_module(module_name)
        except Exception:
            module = None
    if module is not None and "<locals>" not in qualname:
        obj: Any = module
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, type):
            return obj
    return _CLASSES.get(name)


def resolvable(class_name: str) -> bool:
    """Whether a journaled ``module:Qualname`` class can be found in this process now."""
    return _resolve(class_name) is not None


def encode(value: Any) -> Any:
    """Turn ``value`` into a JSON-compatible structure that :func:`decode` inverts."""
    return _encode(value, 0)


def _encode(value: Any, depth: int) -> Any:
    if type(value) is str:
        if _SECRET_IDS and value in _SECRET_IDS:
            return {_TAG: "secret", "id": _SECRET_IDS[value]}
        return value
    if value is None or value is True or value is False:
        return value
    if type(value) is int:
        return value
    if depth > MAX_DEPTH:
        raise SerializationError(
            f"Cannot journal a value nested more than {MAX_DEPTH} levels deep (or one that "
            "contains itself). Flatten it, or journal a summary of it."
        )
    if type(value) is float:
        if math.isfinite(value):
            return value
        return {_TAG: "float", "v": repr(value)}
    if type(value) is list:
        return [_encode(v, depth + 1) for v in value]
    if type(value) is dict:
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: _encode(v, depth + 1) for k, v in value.items()}
        return {
            _TAG: "dict",
            "v": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()],
        }
    if isinstance(value, BaseModel):
        return {_TAG: "model", "cls": _remember(type(value)), "v": value.model_dump(mode="json")}
    if isinstance(value, ModelView):
        inner = object.__getattribute__(value, "_typed")
        return {_TAG: "view", "v": encode(inner if inner is not None else dict(value))}
    if getattr(type(value), "__serde_model__", False):
        return {_TAG: "model", "cls": _remember(type(value)), "v": encode(dict(value))}
    if isinstance(value, enum.Enum):
        return {_TAG: "enum", "cls": _remember(type(value)), "v": _encode(value.value, depth + 1)}
    if isinstance(value, dt.datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {_TAG: "time", "v": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {_TAG: "timedelta", "v": value.total_seconds()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_encode(v, depth + 1) for v in value]}
    if isinstance(value, frozenset):
        return {_TAG: "frozenset", "v": [_encode(v, depth + 1) for v in value]}
    if isinstance(value, set):
        return {_TAG: "set", "v": [_encode(v, depth + 1) for v in value]}
    if isinstance(value, decimal.Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, uuid.UUID):
        return {_TAG: "uuid", "v": str(value)}
    if isinstance(value, bool):  # bool subclasses are rare; keep them exact
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _encode(float(value), depth)
    if isinstance(value, str):
        return _encode(str(value), depth)
    if isinstance(value, list):
        return [_encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return _encode(dict(value), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _encode(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        }
        return {_TAG: "dataclass", "cls": _remember(type(value)), "v": fields}
    raise SerializationError(
        f"Cannot journal a value of type {type(value).__module__}.{type(value).__qualname__}. "
        "Return JSON data, a Pydantic model, a dataclass, or one of datetime/bytes/tuple/set/"
        "Decimal/UUID/Enum from steps and workflows."
    )


def decode(data: Any, *, strict: bool = True) -> Any:
    """Invert :func:`encode`. With ``strict=False`` unknown classes become :class:`UnresolvedValue`."""
    if type(data) is list:
        return [decode(v, strict=strict) for v in data]
    if type(data) is not dict:
        return data
    tag = data.get(_TAG)
    if tag is None:
        return {k: decode(v, strict=strict) for k, v in data.items()}
    v: Any = data.get("v")  # the tag decides its shape
    if tag == "float":
        return float(v)
    if tag == "dict":
        return {decode(k, strict=strict): decode(val, strict=strict) for k, val in v}
    if tag == "datetime":
        return dt.datetime.fromisoformat(v)
    if tag == "date":
        return dt.date.fromisoformat(v)
    if tag == "time":
        return dt.time.fromisoformat(v)
    if tag == "timedelta":
        return dt.timedelta(seconds=v)
    if tag == "bytes":
        return base64.b64decode(v)
    if tag == "tuple":
        return tuple(decode(x, strict=strict) for x in v)
    if tag == "set":
        return {decode(x, strict=strict) for x in v}
    if tag == "frozenset":
        return frozenset(decode(x, strict=strict) for x in v)
    if tag == "secret":
        return _secrets.reveal(str(data.get("id", "")))
    if tag == "decimal":
        return decimal.Decimal(v)
    if tag == "uuid":
        return uuid.UUID(v)
    if tag == "view":
        return view(decode(v, strict=strict))
    if tag in ("model", "enum", "dataclass"):
        cls = _resolve(data.get("cls", ""))
        if cls is None:
            if strict:
                raise UnresolvedClassError(str(data.get("cls")))
            return UnresolvedValue(data)
        if tag == "model":
            return cls.model_validate(v)  # type: ignore[attr-defined]
        if tag == "enum":
            return cls(decode(v, strict=strict))
        return cls(**{k: decode(x, strict=strict) for k, x in v.items()})
    raise SerializationError(
        f"Unknown journal value tag {tag!r}; the journal may be newer than polos_nb."
    )


def dumps(value: Any, *, what: str | None = None) -> str:
    """Encode ``value`` and return JSON text.

    Raises :class:`SerializationError` for a value that cannot be journaled; ``what``
    (e.g. ``"The result of step 'charge'"``) starts the message.
    """
    try:
        data = _encode(value, 0)
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise SerializationError(
            _prefixed(
                what,
                f"Cannot journal a value nested more than {MAX_DEPTH} levels deep (or one that "
                "contains itself). Flatten it, or journal a summary of it.",
            )
        ) from None
    except SerializationError as exc:
        if what is None or isinstance(exc, UnresolvedClassError):
            raise
        raise SerializationError(_prefixed(what, str(exc))) from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise SerializationError(_prefixed(what, _surrogate_message(data))) from None
    if _secrets._forms:
        text = _secrets.redact(text)
    return text


def _prefixed(what: str | None, message: str) -> str:
    if what is None:
        return message
    return f"{what} cannot be journaled: {message[0].lower()}{message[1:]}"


def _surrogate_message(data: Any) -> str:
    path, char = _find_surrogate(data, "$")
    code = f" (U+{ord(char):04X})" if char else ""
    return (
        f"The text at {path or '$'} holds a lone UTF-16 surrogate{code}: half of a character "
        "such as an emoji, which is not valid Unicode and cannot be stored. Replace it, e.g. "
        "text.encode('utf-8', 'replace').decode()."
    )


def _find_surrogate(data: Any, path: str) -> tuple[str, str]:
    """The JSON path of the first text holding a lone surrogate, and that character."""
    if isinstance(data, str):
        for char in data:
            if "\ud800" <= char <= "\udfff":
                return path, char
        return "", ""
    if isinstance(data, list):
        for i, item in enumerate(data):
            found = _find_surrogate(item, f"{path}[{i}]")
            if found[0]:
                return found
    if isinstance(data, dict):
        for key, item in data.items():
            in_key = _find_surrogate(key, path)
            if in_key[0]:
                return f"{path} (a key)", in_key[1]
            found = _find_surrogate(item, f"{path}.{key}")
            if found[0]:
                return found
    return "", ""


def clean_text(text: str) -> str:
    """``text`` with lone surrogates written out as ``\\udXXX`` (for error messages)."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def loads(text: str | None, *, strict: bool = True) -> Any:
    """Parse JSON text written by :func:`dumps`."""
    if text is None:
        return None
    try:
        return decode(json.loads(text), strict=strict)
    except RecursionError:
        raise SerializationError(
            "A journaled value is nested too deeply to read back in this process."
        ) from None
