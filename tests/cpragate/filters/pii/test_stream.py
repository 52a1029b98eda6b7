"""ResponseStream: the pii filter's streaming rewriter, on plain objects."""

import orjson
import pytest

from cpragate.errors import PiiResponseBlocked, PiiResponseUninspectable
from cpragate.filters.pii.stream import ResponseStream, summary
from cpragate.pii import Action, ActionRules, Annotations, Engine, JsonArrayStream
from cpragate.testing import make_exchange

SSN = "536-22-8741"
ENGINE = Engine()


def stream(rules: ActionRules | None = None, limit: int = 1 << 20) -> ResponseStream:
    ex = make_exchange()
    ann = Annotations()
    ex.pii = ann
    return ResponseStream(ex, JsonArrayStream(ENGINE, rules, max_element_bytes=limit, annotations=ann))


def test_feed_and_close_return_rewritten_bytes_and_record_the_decision() -> None:
    s = stream()
    data = orjson.dumps([{"ssn": SSN, "i": i} for i in range(5)])
    out = b"".join(s.feed(data[i : i + 5]) for i in range(0, len(data), 5)) + s.close()
    assert SSN.encode() not in out, "an SSN reached the client"
    assert [r["i"] for r in orjson.loads(out)] == list(range(5))
    assert s.exchange.pii is not None and s.exchange.pii.entities == {"us_ssn": 5}
    assert [(d.filter, d.outcome, d.rule) for d in s.exchange.decisions] == [
        ("pii", "streamed", "found=5 spi=5 mask=5 elements=5")
    ]
    assert s.close() == b"" and s.feed(b"x") == b""  # finished: idempotent


def test_block_raises_once_and_stops() -> None:
    s = stream(ActionRules(entities={"us_ssn": Action.BLOCK}))
    assert s.feed(b'[{"a": 1},') == b'[{"a":1}'
    with pytest.raises(PiiResponseBlocked) as e:
        s.feed(b'{"ssn": "' + SSN.encode() + b'"}]')
    assert SSN not in str(e.value)
    assert s.feed(b"more") == b"" and s.close() == b""
    assert [d.rule for d in s.exchange.decisions] == ["pii:block:us_ssn"]


def test_unparseable_and_too_large_raise_uninspectable_without_values() -> None:
    s = stream(limit=1024)
    with pytest.raises(PiiResponseUninspectable) as e:
        s.feed(b'[{"ssn": "' + SSN.encode() + b'", "pad": "' + b"x" * 2048)
    assert SSN not in str(e.value) and "CPG-PII-003" in str(e.value)
    s = stream()
    s.feed(b'[{"ssn": "' + SSN.encode() + b'"}, ')
    with pytest.raises(PiiResponseUninspectable):
        s.close()
    assert [d.rule for d in s.exchange.decisions] == ["pii:stream-unparseable"]


def test_summary_counts_only() -> None:
    ann = Annotations()
    ann.count("email", "identifiers", False, Action.ALLOW)
    assert summary(ann) == "found=1 spi=0 allow=1"
