import pytest

from cpragate.core import jsonbody
from cpragate.testing import make_exchange, make_request, make_response


def test_request_body_is_parsed_once_and_shared() -> None:
    ex = make_exchange(make_request("POST", "/x", body=b'{"a": [1, 2]}'))
    doc = jsonbody.request_json(ex)
    assert doc == {"a": [1, 2]}
    assert jsonbody.request_json(ex) is doc


def test_a_replaced_body_is_parsed_again_never_stale() -> None:
    ex = make_exchange()
    ex.response = make_response(200, body=b'{"a": 1}')
    first = jsonbody.response_json(ex)
    ex.response.body = b'{"b": 2}'  # rewritten by someone who did not use the helpers
    assert jsonbody.response_json(ex) == {"b": 2}
    assert first == {"a": 1}


def test_set_keeps_the_cache_in_step_with_the_body() -> None:
    ex = make_exchange(make_request("POST", "/x", body=b'{"a": 1, "b": 2}'))
    doc = jsonbody.request_json(ex)
    del doc["b"]
    body = jsonbody.set_request_json(ex, doc)
    assert body == b'{"a":1}' and ex.request.body == body
    assert jsonbody.request_json(ex) is doc
    ex.response = make_response(200, body=b"[1]")
    out = jsonbody.response_json(ex)
    out.append(2)
    assert jsonbody.set_response_json(ex, out) == b"[1,2]"
    assert jsonbody.response_json(ex) is out


def test_big_integers_survive_a_round_trip() -> None:
    big = b'{"id":123456789012345678901234567890}'
    ex = make_exchange()
    ex.response = make_response(200, body=big)
    assert jsonbody.response_json(ex)["id"] == float(123456789012345678901234567890)  # reading: rounded is fine
    doc = jsonbody.writable_response_json(ex)  # writing: exact
    assert doc["id"] == 123456789012345678901234567890
    assert jsonbody.set_response_json(ex, doc) == big
    assert jsonbody.loads(big)["id"] == 123456789012345678901234567890


@pytest.mark.parametrize(
    ("body", "rounded"),
    [
        (b'{"id":-9223372036854775809}', True),  # 19 digits, below -2**63
        (b'{"id":18446744073709551616}', True),  # 2**64
        (b'{"id":18446744073709551615,"n":-9223372036854775808}', True),  # edges: re-parsed, same values
        (b'{"id":"1234567890123456789","x":1234567890123456789}', False),  # 19 digits fit
        (b'{"a":"1234567890123456789-","b":[1234567890123456789]}', False),
        (b"1234567890123456789", False),  # at the very start and end (compiled: no slice before 0)
        (b"12345678901234567890", True),
        (b"-1234567890123456789", True),  # "-" and 19 digits: may be below -2**63 (re-parsed, same value)
        (b"-9223372036854775809", True),
    ],
)
def test_only_integers_orjson_rounds_cost_an_exact_parse(body: bytes, rounded: bool) -> None:
    assert jsonbody._may_round(body) is rounded
    ex = make_exchange()
    ex.response = make_response(200, body=body)
    doc = jsonbody.writable_response_json(ex)
    assert jsonbody.set_response_json(ex, doc) == body.replace(b" ", b"")
    assert doc == __import__("json").loads(body)


@pytest.mark.parametrize("body", [b"", b"{", b"NaN", b"[Infinity]", b"\xff\xfe", b"{'a': 1}"])
def test_not_json_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        jsonbody.loads(body)


def test_lone_surrogates_parse_through_the_stdlib() -> None:
    assert jsonbody.loads(b'["\\ud800"]') == ["\ud800"]


def test_lone_surrogates_are_written_back_escaped() -> None:
    # A filter rewriting such a document must not crash on UTF-8 encoding.
    assert jsonbody.dumps(["\ud800", "é"]) == b'["\\ud800","\\u00e9"]'
    assert jsonbody.loads(jsonbody.dumps(["\ud800"])) == ["\ud800"]


def test_absent_bodies() -> None:
    ex = make_exchange()
    with pytest.raises(ValueError):
        jsonbody.request_json(ex)
    with pytest.raises(ValueError):
        jsonbody.response_json(ex)
    with pytest.raises(ValueError):
        jsonbody.set_response_json(ex, {})


@pytest.mark.parametrize("body", [b'{"i": 12345634567890E06116}', b"[1e999]", b"-1E400", b'{"a": [2, 1.5e309]}'])
def test_numbers_beyond_a_double_are_refused_not_read_as_infinity(body: bytes) -> None:
    # Found by fuzzing: json.loads read them as inf, which orjson then wrote as null.
    with pytest.raises(ValueError):
        jsonbody.loads(body)
