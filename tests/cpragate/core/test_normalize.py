"""Path canonicalization: every spelling either maps to one canonical path or is refused."""

import pytest

from cpragate.core.normalize import PathRefused, normalize_path, split_target

CANONICAL = [
    (b"/", "/"),
    (b"/v1/customers/42", "/v1/customers/42"),
    (b"/v1//customers///42", "/v1/customers/42"),
    (b"/v1/./customers/42", "/v1/customers/42"),
    (b"/v1/x/../customers/42", "/v1/customers/42"),
    (b"/x/../admin", "/admin"),
    (b"/%61dmin", "/admin"),  # unreserved letter decoded
    (b"/a%2Db%5Fc%7E", "/a-b_c~"),
    (b"/%2e/admin", "/admin"),  # encoded dot-segment is a dot-segment
    (b"/v1/%2e%2e/admin", "/admin"),
    (b"/admin/", "/admin/"),
    (b"/a/b/..", "/a/"),
    (b"/a%20b", "/a%20b"),  # reserved/other encodings kept, hex upper-cased
    (b"/a%3ab", "/a%3Ab"),
    (b"/caf%C3%A9", "/caf%C3%A9"),  # valid, NFKC-normal UTF-8 kept encoded
    (b"/.well-known/jwks.json", "/.well-known/jwks.json"),
    (b"/v1/a.b.c", "/v1/a.b.c"),
]


@pytest.mark.parametrize(("raw", "want"), CANONICAL)
def test_canonical(raw: bytes, want: str) -> None:
    assert normalize_path(raw) == want


REFUSED = [
    b"",  # empty
    b"admin",  # not origin-form
    b"*",
    b"/a%2fb",  # encoded slash
    b"/a%2Fb",
    b"/a%5cb",  # encoded backslash
    b"/a\\b",  # raw backslash
    b"/a%252e",  # double encoding
    b"/%252e%252e/admin",
    b"/%25%32%65/admin",  # double encoding spelled with encoded hex digits
    b"/%25%32e",
    b"/%252%65",
    b"/a%00b",  # encoded NUL
    b"/a%0ab",  # encoded LF
    b"/a%7f",
    b"/a%2",  # truncated escape
    b"/a%zz",  # malformed escape
    b"/..",  # climbs above root
    b"/a/../../b",
    b"/%2e%2e/admin",
    b"/admin;jsessionid=1",  # matrix params (Tomcat strips them)
    b"/%EF%BC%8Fadmin",  # fullwidth solidus look-alike
    b"/%C0%AF",  # overlong UTF-8 (not valid UTF-8)
    b"/a#frag",
    b"/a b",
    "/caf\u00e9".encode(),  # raw non-ASCII
]


@pytest.mark.parametrize("raw", REFUSED)
def test_refused(raw: bytes) -> None:
    with pytest.raises(PathRefused):
        normalize_path(raw)


def test_semicolon_allowed_when_configured() -> None:
    assert normalize_path(b"/a;b=1", allow_semicolon=True) == "/a;b=1"


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [(b"/a?b=1", b"/a", b"b=1"), (b"/a", b"/a", b""), (b"/a?", b"/a", b""), (b"/a?x?y", b"/a", b"x?y")],
)
def test_split_target(target: bytes, path: bytes, query: bytes) -> None:
    assert split_target(target) == (path, query)


def test_idempotent_on_canonical_outputs() -> None:
    for raw, want in CANONICAL:
        assert normalize_path(want.encode()) == want, raw


def test_the_memo_of_canonical_paths_changes_no_answer_and_stays_bounded() -> None:
    from cpragate.core import normalize

    normalize._SEEN.clear()
    for raw, want in CANONICAL:
        assert normalize_path(raw) == want
        assert normalize_path(raw) == want  # second time from the memo where it was kept
    assert normalize._SEEN and all(normalize._SIMPLE.fullmatch(k) for k in normalize._SEEN)
    # Only already-canonical spellings are kept: nothing whose answer depends on options.
    with pytest.raises(PathRefused):
        normalize_path(b"/admin;x")
    assert normalize_path(b"/admin;x", allow_semicolon=True) == "/admin;x"
    with pytest.raises(PathRefused):
        normalize_path(b"/admin;x")
    assert b"/admin;x" not in normalize._SEEN
    long = b"/" + b"a" * 300
    assert normalize_path(long) == long.decode() and long not in normalize._SEEN
    for i in range(normalize._SEEN_MAX + 10):
        normalize_path(b"/p/%d" % i)
    assert len(normalize._SEEN) <= normalize._SEEN_MAX
