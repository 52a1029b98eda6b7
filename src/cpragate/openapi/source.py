"""Reading OpenAPI documents from disk: YAML or JSON, safely, with line numbers on demand.

Rules:

- YAML is read with a ``SafeLoader`` subclass: no Python objects, no timestamps (a
  ``2023-10-29`` example stays a string, as JSON Schema expects), booleans only for
  ``true``/``false`` (``NO`` stays the country code), mapping keys always strings
  (``200:`` is the status ``"200"``), and a duplicate key is an error rather than a
  silent last-one-wins (two tools reading one spec differently is a security bug).
- JSON is read with the standard library (big integers, exact floats).
- A document is bounded: ``max_bytes`` on disk and ``max_nodes`` after YAML aliases
  are expanded, so an alias bomb is refused instead of exhausting memory later.
- Line numbers are not recorded while loading (that would slow every load); when an
  error needs one, :meth:`Document.line_of` composes the YAML node tree once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cpragate.errors import SpecError
from cpragate.openapi import pointer as jp

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_NODES", "Document", "load_document", "parse_text"]

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_NODES = 5_000_000

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BOOL = "tag:yaml.org,2002:bool"


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-like scalars and string keys (see the module rules)."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_TIMESTAMP, _BOOL)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    _BOOL,
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


def _construct_mapping(loader: yaml.SafeLoader, node: Node) -> dict[str, Any]:
    assert isinstance(node, MappingNode)
    loader.flatten_mapping(node)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain scalar", key_node.start_mark
            )
        # The key as written: `200:` is the status "200", `on:` is the string "on".
        key = str(key_node.value)
        if key in result:
            raise _DuplicateKey(key, key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_SpecLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key, 0)
        result[key] = value
    return result


def _expanded_size(value: Any, limit: int) -> int:
    """Node count with aliases expanded, memoized by identity so the walk itself stays linear."""
    memo: dict[int, int] = {}

    def size(node: Any) -> int:
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            return 1
        known = memo.get(id(node))
        if known is not None:
            return known
        memo[id(node)] = 1  # a self-referencing node counts once instead of looping
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                break
        memo[id(node)] = total
        return total

    return size(value)


def _is_json(path: Path, text: str) -> bool:
    if path.suffix.lower() == ".json":
        return True
    if path.suffix.lower() in (".yaml", ".yml"):
        return False
    return text.lstrip().startswith(("{", "["))


def parse_text(text: str, *, path: Path, max_nodes: int = DEFAULT_MAX_NODES) -> Any:
    """Parse ``text`` (YAML or JSON, chosen by ``path``'s suffix or first character).

    :raises SpecError: naming ``path`` and the line for syntax errors, duplicate keys and
        documents that expand beyond ``max_nodes``.
    """
    try:
        if _is_json(path, text):
            try:
                data = json.loads(text, object_pairs_hook=_reject_duplicates)
            except json.JSONDecodeError as exc:
                raise SpecError(
                    f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno}).",
                    fix="Fix the JSON syntax at that line, or convert the file to YAML.",
                ) from None
        else:
            try:
                data = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = f":{mark.line + 1}" if mark is not None else ""
                problem = exc.problem or exc.context or "syntax error"
                raise SpecError(
                    f"{path}{line}: not valid YAML: {problem}.",
                    fix="Fix the YAML syntax at that line (indentation, quoting, a missing ':').",
                ) from None
            except yaml.YAMLError as exc:
                raise SpecError(f"{path}: not valid YAML: {type(exc).__name__}.") from None
    except _DuplicateKey as dup:
        at = f":{dup.line}" if dup.line else ""
        raise SpecError(
            f"{path}{at}: the key {dup.key!r} appears twice in one mapping.",
            fix="Remove or merge the duplicate key; tools disagree on which one wins.",
        ) from None
    except RecursionError:
        raise SpecError(f"{path}: the document is nested too deeply to read.") from None
    if _expanded_size(data, max_nodes) > max_nodes:
        raise SpecError(
            f"{path}: the document expands to more than {max_nodes} nodes (YAML aliases?).",
            fix="Remove repeated YAML aliases (&anchor/*alias) or split the spec.",
        )
    return data


@dataclass(slots=True)
class Document:
    """One parsed file of a spec: its absolute path, its data and its text (for line numbers)."""

    path: Path
    """Absolute, resolved path of the file."""
    data: Any
    """The parsed document: dicts, lists, str, int, float, bool, None."""
    text: str = field(repr=False)
    """The source text, kept so an error can name a line."""
    _lines: dict[str, int] | None = field(default=None, repr=False)

    def line_of(self, pointer: str) -> int | None:
        """The 1-based line where the value at ``pointer`` starts, or None when unknown.

        The first call composes the YAML node tree of the whole file (JSON parses as
        YAML too); later calls are dictionary look-ups.
        """
        if self._lines is None:
            self._lines = {}
            try:
                root = yaml.compose(self.text, Loader=yaml.SafeLoader)
            except yaml.YAMLError:
                root = None
            if root is not None:
                self._index(root, "")
        return self._lines.get(pointer)

    def _index(self, root: Node, base: str) -> None:
        assert self._lines is not None
        stack: list[tuple[Node, str]] = [(root, base)]
        seen: set[int] = set()
        while stack:
            node, where = stack.pop()
            self._lines.setdefault(where, node.start_mark.line + 1)
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, MappingNode):
                for key, value in node.value:
                    if isinstance(key, ScalarNode):
                        child = jp.join(where, str(key.value))
                        self._lines.setdefault(child, key.start_mark.line + 1)
                        stack.append((value, child))
            elif isinstance(node, SequenceNode):
                for index, item in enumerate(node.value):
                    stack.append((item, jp.join(where, index)))

    def where(self, pointer: str) -> str:
        """``file:line#/pointer`` for messages (the line only when known)."""
        line = self.line_of(pointer)
        at = f":{line}" if line is not None else ""
        return f"{self.path}{at} (at #{pointer})"


def load_document(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_nodes: int = DEFAULT_MAX_NODES
) -> Document:
    """Read and parse one file.

    :raises SpecError: when the file is missing, unreadable, too large, not UTF-8 or
        not valid YAML/JSON.
    """
    resolved = path.resolve()
    try:
        size = resolved.stat().st_size
        if size > max_bytes:
            raise SpecError(
                f"{resolved}: {size} bytes exceeds the {max_bytes}-byte limit for a spec file.",
                fix="Split the spec into several files joined by $ref, or raise the limit.",
            )
        raw = resolved.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{resolved}: no such file.", fix="Check the path to the OpenAPI document.") from None
    except OSError as exc:
        raise SpecError(
            f"{resolved}: cannot be read ({exc.strerror}).",
            fix="Check the path and that the gateway may read it.",
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{resolved}: not UTF-8 text (byte {exc.start}).", fix="Save the file as UTF-8."
        ) from None
    data = parse_text(text, path=resolved, max_nodes=max_nodes)
    return Document(path=resolved, data=data, text=text)
