"""Tests for cpragate.openapi.refs: $ref across files, escapes, cycles and refusals."""

from pathlib import Path

import pytest

from cpragate.errors import SpecRefError, SpecRemoteRefError
from cpragate.openapi.refs import Location, Resolver, is_ref
from cpragate.openapi.source import load_document


def write(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base / next(iter(files))


@pytest.fixture
def spec(tmp_path):
    root = write(
        tmp_path,
        {
            "api.yaml": "a: {$ref: '#/b'}\nb: {$ref: 'sub/other.yaml#/~1x~1{y}'}\nc: 1\nloop1: {$ref: '#/loop2'}\nloop2: {$ref: '#/loop1'}\n",
            "sub/other.yaml": "/x/{y}:\n  v: 2\n  back: {$ref: '../api.yaml#/c'}\nm~n: 3\n'a b': 4\n",
            "note.md": "# not a spec",
        },
    )
    doc = load_document(root)
    return Resolver(doc), Location(doc, "")


def test_follow_across_files(spec):
    resolver, root = spec
    here, value = resolver.follow(root.child("a"))
    assert value == {"v": 2, "back": {"$ref": "../api.yaml#/c"}}
    assert here.document.path.name == "other.yaml"
    assert here.pointer == "/~1x~1{y}"
    back, value = resolver.follow(here.child("back"))
    assert value == 1 and back.document is root.document


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("sub/other.yaml#/m~0n", 3), ("sub/other.yaml#/a%20b", 4), ("#/c", 1), ("./sub/other.yaml#/m~0n", 3)],
)
def test_resolve_pointer_escapes(spec, ref, expected):
    resolver, root = spec
    assert resolver.resolve(ref, root).value() == expected


@pytest.mark.parametrize(
    ("ref", "error", "needle"),
    [
        ("https://example.com/s.yaml#/a", SpecRemoteRefError, "remote URL"),
        ("http://example.com/s.yaml", SpecRemoteRefError, "never fetches"),
        ("file:///etc/passwd", SpecRefError, "file: URL"),
        ("missing.yaml#/a", SpecRefError, "does not exist"),
        ("note.md", SpecRefError, "only .yaml"),
        ("#/nope/deeper", SpecRefError, "points at nothing"),
        ("#Anchor", SpecRefError, "not a JSON pointer"),
    ],
)
def test_resolve_errors(spec, ref, error, needle):
    resolver, root = spec
    with pytest.raises(error, match=needle) as err:
        resolver.resolve(ref, root.child("a"))
    assert "api.yaml:1" in str(err.value)  # file and line of the referring place


def test_circular_chain_is_an_error(spec):
    resolver, root = spec
    with pytest.raises(SpecRefError, match="returns to"):
        resolver.follow(root.child("loop1"))


def test_confined_root(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("x: 1\n")
    api = write(tmp_path / "spec", {"api.yaml": "a: {$ref: '../outside.yaml#/x'}\n"})
    doc = load_document(api)
    with pytest.raises(SpecRefError, match="leaves the spec's directory"):
        Resolver(doc, root=api.parent).follow(Location(doc, "/a"))
    assert Resolver(doc).follow(Location(doc, "/a"))[1] == 1


def test_documents_loaded_once(spec):
    resolver, root = spec
    resolver.follow(root.child("a"))
    resolver.follow(root.child("b"))
    assert [d.path.name for d in resolver.documents] == ["api.yaml", "other.yaml"]


@pytest.mark.parametrize(("value", "expected"), [({"$ref": "#/a"}, True), ({"$ref": 1}, False), ("x", False)])
def test_is_ref(value, expected):
    assert is_ref(value) is expected
