"""Tests for cpragate.openapi.source: safe YAML/JSON reading and line numbers."""

from pathlib import Path

import pytest

from cpragate.errors import SpecError
from cpragate.openapi.source import Document, load_document, parse_text

P = Path("spec.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 2023-10-29", {"a": "2023-10-29"}),  # no timestamps
        ("a: NO\nb: yes\nc: true", {"a": "NO", "b": "yes", "c": True}),  # YAML 1.2 booleans
        ("200:\n  x: 1\n'201': 2", {"200": {"x": 1}, "201": 2}),  # keys are strings
        ("a: &x [1]\nb: *x", {"a": [1], "b": [1]}),
        ("a: 1.5\nb: ~", {"a": 1.5, "b": None}),
    ],
)
def test_yaml_scalars(text, expected):
    assert parse_text(text, path=P) == expected


@pytest.mark.parametrize(
    ("text", "path", "needle"),
    [
        ("a: 1\na: 2\n", P, ":2: the key 'a' appears twice"),
        ('{"a": 1, "a": 2}', Path("s.json"), "the key 'a' appears twice"),
        ("a: [1\n", P, "not valid YAML"),
        ('{"a": }', Path("s.json"), "s.json:1: not valid JSON"),
        ("!!python/object:os.system {}", P, "not valid YAML"),
    ],
)
def test_parse_errors_name_file_and_line(text, path, needle):
    with pytest.raises(SpecError) as err:
        parse_text(text, path=path)
    assert needle in str(err.value)
    assert str(err.value).startswith("CPG-OAS-001")


def test_alias_bomb_is_refused():
    lines = ["a0: [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "\n".join(lines[1:])
    with pytest.raises(SpecError, match="expands to more than"):
        parse_text(text, path=P, max_nodes=100_000)


def test_line_of_and_where(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("openapi: 3.0.0\npaths:\n  /pets:\n    get:\n      responses: {}\n")
    doc = load_document(f)
    assert doc.line_of("/paths/~1pets/get") == 4
    assert doc.line_of("/nope") is None
    assert doc.where("/paths/~1pets") == f"{f}:3 (at #/paths/~1pets)"


def test_line_of_json(tmp_path):
    f = tmp_path / "s.json"
    f.write_text('{\n  "a": {\n    "b": 1\n  }\n}\n')
    assert load_document(f).line_of("/a/b") == 3


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda d: d / "missing.yaml", "no such file"),
        (lambda d: (d / "big.yaml").write_text("a: " + "x" * 200) and d / "big.yaml", "exceeds"),
        (lambda d: (d / "bin.yaml").write_bytes(b"a: \xff\xfe") and d / "bin.yaml", "not UTF-8"),
    ],
)
def test_load_document_errors(tmp_path, setup, needle):
    with pytest.raises(SpecError, match=needle):
        load_document(setup(tmp_path), max_bytes=100)


def test_document_repr_hides_text():
    doc = Document(path=P, data={}, text="secret")
    assert "secret" not in repr(doc)
