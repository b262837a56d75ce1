"""Unit tests of the typed-JSON codec the journal uses (D2)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import uuid

import pytest
from pydantic import BaseModel

from polos_nb import _serde
from polos_nb.errors import SerializationError


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: int
    y: tuple[int, ...]


class Inner(BaseModel):
    n: int
    tags: list[str] = []


class Outer(BaseModel):
    name: str
    inner: Inner
    when: dt.datetime


def roundtrip(value):
    text = _serde.dumps(value)
    json.loads(text)  # always valid JSON (no NaN literals)
    return _serde.loads(text)


@pytest.mark.parametrize(
    "value",
    [0, False, True, "", [], {}, None, 1.5, -0.0, 10**30, "ünïcode", [0, "", None, False, {}]],
)
def test_plain_json_values_are_stored_as_themselves(value):
    assert _serde.dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    back = roundtrip(value)
    assert back == value
    assert type(back) is type(value)


def test_false_and_zero_keep_their_types():
    assert roundtrip(False) is False
    back = roundtrip(0)
    assert back == 0 and type(back) is int
    assert roundtrip(0.0) == 0.0 and type(roundtrip(0.0)) is float
    assert math.copysign(1.0, roundtrip(-0.0)) == -1.0


def test_non_finite_floats():
    assert math.isnan(roundtrip(float("nan")))
    assert roundtrip(float("inf")) == float("inf")
    assert roundtrip(float("-inf")) == float("-inf")
    assert json.loads(_serde.dumps(float("inf"))) == {"$t": "float", "v": "inf"}


def test_tagged_scalars_roundtrip_exactly():
    aware = dt.datetime(
        2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
    )
    values = [
        aware,
        dt.datetime(2024, 1, 1, 0, 0),  # naive stays naive
        dt.date(2023, 12, 31),
        dt.time(23, 59, 1, 5),
        dt.timedelta(days=2, seconds=3, microseconds=4),
        b"\x00\xffbin",
        (1, "a", None),
        (),
        {1, 2, 3},
        frozenset({"x"}),
        decimal.Decimal("1.10"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        Color.RED,
        Color.BLUE,
    ]
    for value in values:
        back = roundtrip(value)
        assert back == value, value
        assert type(back) is type(value), value
    assert roundtrip(aware).utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert roundtrip(dt.datetime(2024, 1, 1)).tzinfo is None
    assert str(roundtrip(decimal.Decimal("1.10"))) == "1.10"


def test_bytearray_comes_back_as_bytes():
    assert roundtrip(bytearray(b"ab")) == b"ab"


def test_models_and_dataclasses_roundtrip():
    when = dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC)
    model = Outer(name="o", inner=Inner(n=1, tags=["t"]), when=when)
    back = roundtrip(model)
    assert type(back) is Outer and back == model and type(back.inner) is Inner
    assert back.when == when
    point = Point(3, (4, 5))
    back_point = roundtrip(point)
    assert type(back_point) is Point and back_point == point and back_point.y == (4, 5)


def test_local_classes_roundtrip_in_same_process():
    class Local(BaseModel):
        v: int

    @dataclasses.dataclass
    class LocalDC:
        a: str

    class LocalEnum(enum.Enum):
        A = 1

    data = {"m": Local(v=7), "d": LocalDC("x"), "e": LocalEnum.A}
    text = _serde.dumps(data)
    assert "<locals>" in text
    back = _serde.loads(text)
    assert type(back["m"]) is Local and back["m"].v == 7
    assert type(back["d"]) is LocalDC and back["d"].a == "x"
    assert back["e"] is LocalEnum.A


def test_dict_with_tag_key_and_non_string_keys():
    tricky = {"$t": "model", "cls": "os:system", "v": "rm -rf /"}
    back = roundtrip(tricky)
    assert back == tricky and type(back) is dict
    keyed = {1: "one", (2, 3): "tuple", None: 0, 2.5: [], "s": {}}
    back = roundtrip(keyed)
    assert back == keyed
    assert set(back) == {1, (2, 3), None, 2.5, "s"}
    assert type(next(iter(back))) is int
    assert json.loads(_serde.dumps({1: "a"})) == {"$t": "dict", "v": [[1, "a"]]}


def test_nested_mix():
    value = {
        "list": [0, False, "", None, [], {}, (1, b"x"), {decimal.Decimal("2")}],
        "model": [Inner(n=0)],
        "deep": {"k": [{"when": dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "f": float("-inf")}]},
        "tuple_of_models": (Inner(n=1), Inner(n=2)),
    }
    back = roundtrip(value)
    assert back == value
    assert type(back["list"][6]) is tuple
    assert type(back["tuple_of_models"][1]) is Inner


def test_none_text_means_no_value():
    assert _serde.loads(None) is None
    assert _serde.loads("null") is None


def test_unknown_object_raises_serialization_error_with_hint():
    class Widget:
        pass

    with pytest.raises(SerializationError) as info:
        _serde.dumps({"ok": 1, "bad": [Widget()]})
    message = str(info.value)
    assert "Widget" in message
    assert "Pydantic model" in message
    assert isinstance(info.value, TypeError)  # SerializationError is also a TypeError


def test_unknown_class_when_reading():
    text = json.dumps({"$t": "model", "cls": "no_such_module_xyz:Gone", "v": {"a": 1}})
    with pytest.raises(SerializationError, match="no_such_module_xyz:Gone"):
        _serde.loads(text)
    lenient = _serde.loads(text, strict=False)
    assert isinstance(lenient, _serde.UnresolvedValue)
    assert lenient.class_name == "no_such_module_xyz:Gone"
    assert lenient["v"] == {"a": 1}


def test_unknown_tag():
    with pytest.raises(SerializationError, match="Unknown journal value tag 'wat'"):
        _serde.loads('{"$t": "wat", "v": 1}')
