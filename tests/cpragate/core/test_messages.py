from cpragate.core.messages import Headers, Request, Response


def test_headers_multimap() -> None:
    h = Headers([(b"Set-Cookie", b"a"), (b"set-cookie", b"b"), (b"X-A", b"1")])
    assert h.get(b"set-cookie") == b"a"
    assert h.get_all(b"set-cookie") == [b"a", b"b"]
    assert b"x-a" in h and b"x-b" not in h
    h.set(b"X-A", b"2")
    assert h.get_all(b"x-a") == [b"2"]
    h.setdefault(b"x-a", b"3")
    h.setdefault(b"x-new", b"4")
    assert h.get(b"x-a") == b"2" and h.get(b"x-new") == b"4"
    h.remove(b"SET-COOKIE")
    assert b"set-cookie" not in h
    h.remove_many({b"x-a", b"x-new"})
    assert len(h) == 0 and list(h) == []
    assert h.get(b"nope", b"d") == b"d"


def test_repr_never_shows_values() -> None:
    h = Headers([(b"authorization", b"Bearer secret-token")])
    assert "secret" not in repr(h)
    assert Headers([(b"a", b"1")]) == Headers([(b"A", b"1")])


def test_request_response_repr() -> None:
    r = Request("GET", b"/a?ssn=1", "/a", b"ssn=1")
    assert "ssn" not in repr(r)
    assert repr(Response(204)) == "Response(204)"
