"""Streaming: element-by-element output equals whole-document processing; block and limits."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpragate.errors import PiiBlocked, PiiInputError, PiiStreamLimitError
from cpragate.pii import Action, ActionRules, Annotations, Engine, process_stream

ENGINE = Engine()
MASK = ActionRules(default=Action.MASK)


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run(data: bytes, size: int, rules: ActionRules = MASK) -> tuple[bytes, Annotations]:
    ann = Annotations()
    out = b"".join(process_stream(ENGINE, chunks(data, size), rules, annotations=ann))
    return out, ann


ROWS = [
    {
        "id": i,
        "email": f"user{i}@example.com",
        "note": 'he said "hi" [x] {y}, ssn 219-45-6789',
        "n": [1, {"a": "]"}],
    }
    for i in range(20)
]


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_top_level_array_matches_whole(size: int) -> None:
    data = orjson.dumps(ROWS)
    out, ann = run(data, size)
    whole, whole_ann = ENGINE.process_json(data, MASK)
    assert orjson.loads(out) == orjson.loads(whole)
    assert ann.entities == whole_ann.entities


@pytest.mark.parametrize("size", [3, 50, 100_000])
def test_wrapped_array_matches_whole(size: int) -> None:
    doc = {"total": 20, "owner_email": "boss@example.com", "items": ROWS, "next": "call 415-555-0132"}
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    out, ann = run(data, size)
    whole, whole_ann = ENGINE.process_json(data, MASK)
    assert orjson.loads(out) == orjson.loads(whole)
    assert ann.entities == whole_ann.entities


def test_paths_carry_the_index() -> None:
    stream = ENGINE.stream(MASK)
    stream.feed(orjson.dumps({"items": ROWS[:3]}))
    stream.close()
    assert stream.annotations.entities["email"] == 3


def test_block_after_bytes_were_sent() -> None:
    rows: list[Any] = [{"email": f"u{i}@example.com"} for i in range(10)] + [{"ssn": "219-45-6789"}]
    rules = ActionRules(default=Action.MASK, entities={"us_ssn": Action.BLOCK})
    sent: list[bytes] = []
    with pytest.raises(PiiBlocked):
        for out in process_stream(ENGINE, chunks(orjson.dumps(rows), 40), rules):
            sent.append(out)
    assert sent  # earlier elements went out: the caller must abort the connection
    assert b"219-45-6789" not in b"".join(sent)


def test_element_limit() -> None:
    data = orjson.dumps([{"x": "a" * 5000}])
    with pytest.raises(PiiStreamLimitError):
        list(process_stream(ENGINE, chunks(data, 100), MASK, max_element_bytes=1000))


def test_truncated_and_scalar_documents() -> None:
    with pytest.raises(PiiInputError):
        list(process_stream(ENGINE, [b'[{"a": 1}, {"b"'], MASK))
    assert b"".join(process_stream(ENGINE, [b'"ssn 219-45-', b'6789"'], MASK)) == b'"ssn ***-**-6789"'
    assert b"".join(process_stream(ENGINE, [b"[]"], MASK)) == b"[]"
    assert orjson.loads(
        b"".join(process_stream(ENGINE, [b'{"a": 1, "b": {"ssn": "219-45-6789"}}'], MASK))
    ) == {
        "a": 1,
        "b": {"ssn": "***-**-6789"},
    }


@settings(max_examples=60)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["email", "v", "s"]),
            st.sampled_from(["a@b.co", "x", '"]', "219-45-6789"]),
            max_size=3,
        ),
        max_size=8,
    ),
    st.integers(min_value=1, max_value=50),
)
def test_any_chunking_equals_whole(rows: list[dict[str, str]], size: int) -> None:
    data = orjson.dumps(rows)
    out, _ = run(data, size)
    assert orjson.loads(out) == orjson.loads(ENGINE.process_json(data, MASK).body)


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_array_names_the_member_to_stream(size: int) -> None:
    doc = {"tags": ["x", "y"], "data": [{"ssn": "219-45-6789"}, {"note": "ssn 219-45-6789"}], "n": {"a": [1]}}
    s = ENGINE.stream(MASK, max_element_bytes=4096)
    s2 = type(s)(ENGINE, MASK, max_element_bytes=4096, array="data")
    data = orjson.dumps(doc)
    out = b"".join(s2.feed(c) for c in chunks(data, size)) + s2.close()
    assert orjson.loads(out) == ENGINE.process_value(orjson.loads(data), MASK)[0]
    assert s2.elements == 2
    # Without a name, the first array member (tags) is the streamed one.
    out = b"".join(s.feed(c) for c in chunks(data, size)) + s.close()
    assert s.elements == 2 and orjson.loads(out)["data"][0]["ssn"] != "219-45-6789"


def test_array_not_found_is_processed_whole_within_the_limit() -> None:
    from cpragate.pii import JsonArrayStream

    ann = Annotations()
    s = JsonArrayStream(ENGINE, MASK, max_element_bytes=4096, array="rows", annotations=ann)
    out = s.feed(b'{"data": [{"ssn": "219-45-6789"}]}') + s.close()
    assert b"219-45-6789" not in out and s.elements == 0
    assert s.annotations is ann and ann.entities == {"us_ssn": 1}
    big = JsonArrayStream(ENGINE, MASK, max_element_bytes=1024, array="rows")
    with pytest.raises(PiiStreamLimitError):
        big.feed(b'{"data": [' + b'"x",' * 600)
