import pytest

from cpragate.core.ids import CounterIds, accept_request_id


def test_counter_ids_unique_and_prefixed() -> None:
    ids = CounterIds("abc")
    assert [ids.next_id() for _ in range(3)] == ["abc-1", "abc-2", "abc-3"]
    assert CounterIds().next_id() != CounterIds().next_id()


@pytest.mark.parametrize(
    ("value", "ok"),
    [(b"req-123", True), (b"a.b:c_d-e", True), (b"x" * 128, True), (b"x" * 129, False),
     (b"bad\nid", False), (b"<script>", False), (b"", False), (None, False)],
)
def test_accept_request_id(value: bytes | None, ok: bool) -> None:
    assert (accept_request_id(value) is not None) is ok
