"""Field paths for minimization: parse once, apply as allow-lists or deny-lists.

Syntax (a small JSONPath subset)::

    email                 the member ``email`` of the top-level object
    $.customer.address    ``$.`` is optional
    items[*].ssn          ``[*]`` = every element of an array
    address.*             ``*`` = every member of an object
    ['odd.key'].x         bracket-quoted member names may hold dots

Arrays are looked into wherever they are met, so ``items.ssn`` and ``items[*].ssn``
mean the same and ``ssn`` also applies to a top-level array of objects.

An allow-list keeps the listed members (each with everything below it) and the objects
on the way to them, and removes every other member; a deny-list removes the listed
members. Both report the removed members by path with array indexes as ``*``
(``/items/*/ssn``) and a count, never values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from cpragate.openapi import pointer as jp

__all__ = ["FieldTree", "PathError", "parse_path"]

WILDCARD = "*"
_CONTAINERS = (dict, list)  # a tuple: `dict | list` builds a union object at every call (4x slower)
_TOKEN = re.compile(r"""\[\*\]|\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]|\.?([^.\[\]]+)""")


class PathError(ValueError):
    """A field path is malformed."""


def parse_path(path: str) -> tuple[str, ...]:
    """The member names of ``path`` (``*`` for a wildcard member); ``[*]`` dropped."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PathError(
                f"field path {path!r} cannot be read at {text[pos:]!r}; write e.g. items[*].ssn or address.city"
            )
        pos = m.end()
        if m.group(0) == "[*]":
            continue
        name = m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)
        if m.group(3) is not None and m.group(3) == "*":
            tokens.append(WILDCARD)
        else:
            tokens.append(re.sub(r"\\(.)", r"\1", name))
    if not tokens:
        raise PathError(f"field path {path!r} names no member; the whole body cannot be listed")
    return tuple(tokens)


class _Node:
    __slots__ = ("any", "children", "leaf")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.any: _Node | None = None
        self.leaf = False


class FieldTree:
    """A compiled set of field paths.

    :raises PathError: for a malformed path.
    """

    __slots__ = ("_root", "paths")

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = tuple(paths)
        self._root = _Node()
        for path in self.paths:
            node = self._root
            for token in parse_path(path):
                if token == WILDCARD:
                    if node.any is None:
                        node.any = _Node()
                    node = node.any
                else:
                    node = node.children.setdefault(token, _Node())
            node.leaf = True

    # ------------------------------------------------------------------ allow

    def keep_only(self, doc: Any, removed: dict[str, int], apply: bool = True) -> None:
        """Remove every member of ``doc`` the paths do not reach; count them in ``removed``.

        With ``apply=False`` nothing is changed, only counted (monitor mode).
        """
        self._keep(self._root, doc, "", removed, apply)

    def _keep(self, node: _Node, value: Any, at: str, removed: dict[str, int], apply: bool) -> None:
        """``at``: the path so far, escaped, array indexes as ``/*``."""
        if isinstance(value, dict):
            children = node.children
            wild = node.any
            drop: list[str] = []
            for key, child_value in value.items():
                child = children.get(key) or wild
                if child is None:
                    drop.append(key)
                elif not child.leaf and isinstance(child_value, _CONTAINERS):
                    self._keep(child, child_value, at + "/" + jp.escape(key), removed, apply)
            for key in drop:
                where = at + "/" + jp.escape(key)
                removed[where] = removed.get(where, 0) + 1
                if apply:
                    del value[key]
        elif isinstance(value, list):
            at += "/" + WILDCARD
            for item in value:
                if isinstance(item, _CONTAINERS):
                    self._keep(node, item, at, removed, apply)

    # ------------------------------------------------------------------ deny

    def remove(self, doc: Any, removed: dict[str, int], apply: bool = True) -> None:
        """Remove every member the paths name; count them in ``removed``."""
        self._remove(self._root, doc, "", removed, apply)

    def _remove(self, node: _Node, value: Any, at: str, removed: dict[str, int], apply: bool) -> None:
        if isinstance(value, dict):
            targets: list[tuple[str, _Node]]
            if node.any is not None:
                targets = [(k, node.children.get(k) or node.any) for k in value]
            else:
                targets = [(k, c) for k, c in node.children.items() if k in value]
            for key, child in targets:
                if child.leaf:
                    where = at + "/" + jp.escape(key)
                    removed[where] = removed.get(where, 0) + 1
                    if apply:
                        del value[key]
                else:
                    sub = value[key]
                    if isinstance(sub, _CONTAINERS):
                        self._remove(child, sub, at + "/" + jp.escape(key), removed, apply)
        elif isinstance(value, list):
            at += "/" + WILDCARD
            for item in value:
                if isinstance(item, _CONTAINERS):
                    self._remove(node, item, at, removed, apply)
