"""Route matching by method and path template on the canonical path.

Templates are ``/v1/customers/{id}`` (a ``{name}`` matches exactly one non-empty
segment) and may end in ``/**`` (matches zero or more further segments). The most
specific route wins: at each segment a literal beats a parameter, a parameter beats a
catch-all, and the search backtracks, so ``/v1/customers/me`` beats
``/v1/customers/{id}`` which beats ``/v1/**``. Among routes that match the path, the
most specific one serving the method wins; if the path matches but no route serves the
method, the answer is 405. Anything else is not routed (default deny).

A trailing slash is ignored for matching (``/admin/`` is ``/admin``), so no spelling of
a path escapes the rule written for it. Matching is case-sensitive unless the router is
built with ``case_sensitive=False`` (then ``/ADMIN`` is ``/admin``).
"""

from __future__ import annotations

import re
from typing import Generic, Literal, TypeVar

__all__ = ["Match", "RouteConflict", "Router", "TemplateError", "parse_template"]

T = TypeVar("T")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ANY_METHOD = "*"


class TemplateError(ValueError):
    """A path template is malformed."""


class RouteConflict(ValueError):
    """Two routes claim the same template and method."""


class Match(Generic[T]):
    """A routing decision: the route's payload, its template and the path parameters."""

    __slots__ = ("params", "payload", "template")

    def __init__(self, payload: T, template: str, params: dict[str, str]) -> None:
        self.payload = payload
        self.template = template
        self.params = params

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Match) and (other.payload, other.template, other.params) == (
            self.payload,
            self.template,
            self.params,
        )

    def __repr__(self) -> str:
        return f"Match({self.template!r}, {self.params!r})"

    __hash__ = None  # type: ignore[assignment]


class _Node(Generic[T]):
    """A trie node (a plain class: mypyc, which compiles this module, refuses generic dataclasses)."""

    __slots__ = ("here", "param", "param_name", "rest", "static")

    def __init__(self, param_name: str = "") -> None:
        self.static: dict[str, _Node[T]] = {}
        self.param: _Node[T] | None = None
        self.param_name = param_name
        # method -> (template, payload, parameter names); the routes whose template ends here
        self.here: dict[str, tuple[str, T, tuple[str, ...]]] = {}
        # routes whose template ends with /** at this node
        self.rest: dict[str, tuple[str, T, tuple[str, ...]]] = {}


def parse_template(template: str) -> list[str]:
    """Segments of a template; raises TemplateError naming what is wrong."""
    if not template.startswith("/"):
        raise TemplateError(f"path template {template!r} must start with '/'")
    segs = [s for s in template.split("/")[1:]]
    if segs and segs[-1] == "":
        segs.pop()
    for i, s in enumerate(segs):
        if s == "":
            raise TemplateError(f"path template {template!r} has an empty segment ('//')")
        if s in (".", ".."):
            raise TemplateError(f"path template {template!r} has a dot-segment")
        if s == "**":
            if i != len(segs) - 1:
                raise TemplateError(f"'**' must be the last segment of {template!r}")
            continue
        if "{" in s or "}" in s:
            if _PARAM.fullmatch(s) is None:
                raise TemplateError(
                    f"segment {s!r} of {template!r}: a parameter must fill its whole "
                    "segment, like '{id}'"
                )
        elif "*" in s:
            raise TemplateError(f"segment {s!r} of {template!r}: '*' is only allowed as '/**'")
    return segs


class Router(Generic[T]):
    """A segment trie; build once at config load, match on every request."""

    def __init__(self, *, case_sensitive: bool = True) -> None:
        self._root: _Node[T] = _Node()
        self._case_sensitive = case_sensitive
        # Paths that can only match templates without parameters or catch-alls are the
        # common case for many APIs; remember their decision (bounded).
        # method -> canonical path -> decision
        self._static: dict[str, dict[str, Match[T]]] = {}

    def add(self, template: str, methods: list[str], payload: T) -> None:
        segs = parse_template(template if self._case_sensitive else template.lower())
        self._static.clear()
        node = self._root
        catch_all = bool(segs) and segs[-1] == "**"
        if catch_all:
            segs = segs[:-1]
        for s in segs:
            m = _PARAM.fullmatch(s)
            if m is None:
                node = node.static.setdefault(s, _Node())
                continue
            if node.param is None:
                node.param = _Node(param_name=m.group(1))
            elif node.param.param_name != m.group(1):
                raise RouteConflict(
                    f"template {template!r} names parameter {{{m.group(1)}}} where another "
                    f"route names {{{node.param.param_name}}}; use the same name"
                )
            node = node.param
        table = node.rest if catch_all else node.here
        upper = [m.upper() for m in methods]
        for method in upper:  # all checked first: a refused route leaves nothing behind
            if method in table:
                raise RouteConflict(
                    f"{method} {template} is declared twice (also as {table[method][0]})"
                )
            if upper.count(method) > 1:
                raise RouteConflict(f"{method} is listed twice for {template}")
        for method in upper:
            table[method] = (template, payload, tuple(_PARAM.findall(template)))

    def match(self, method: str, path: str) -> Match[T] | Literal[False] | None:
        """The best Match; False if the path matches but not the method; None if unrouted."""
        if not self._case_sensitive:
            path = path.lower()
        memo = self._static.get(method)
        if memo is not None:
            hit = memo.get(path)
            if hit is not None:
                return hit
        # segs[0] is the empty string before the leading "/"; a trailing slash is ignored
        segs = path.split("/")
        n = len(segs)
        if n > 1 and segs[n - 1] == "":
            n -= 1
        params: list[str] = []
        found = self._walk(self._root, path, segs, 1, n, method, params)
        if found is None:
            # No route serves the method here: 405 if some route matches the path at all.
            return False if self._any_route(self._root, segs, 1, n) else None
        if not found.params:
            # Only parameter-free decisions are remembered: they do not depend on the id in
            # the path, so the memo does not fill with one entry per object.
            if memo is None:
                memo = self._static[method] = {}
            if len(memo) < 4096:
                memo[path] = found
        return found

    def _walk(
        self,
        node: _Node[T],
        path: str,
        segs: list[str],
        i: int,
        n: int,
        method: str,
        params: list[str],
    ) -> Match[T] | None:
        if i == n:
            if node.here:
                hit = self._pick(node.here, False, method, params, path, segs, i, n)
                if hit is not None:
                    return hit
        else:
            seg = segs[i]
            child = node.static.get(seg)
            if child is not None:
                hit = self._walk(child, path, segs, i + 1, n, method, params)
                if hit is not None:
                    return hit
            param = node.param
            if param is not None:
                params.append(seg)
                hit = self._walk(param, path, segs, i + 1, n, method, params)
                if hit is not None:
                    return hit
                params.pop()
        if node.rest:
            return self._pick(node.rest, True, method, params, path, segs, i, n)
        return None

    def _any_route(self, node: _Node[T], segs: list[str], i: int, n: int) -> bool:
        """Whether any route, for any method, matches the path (the walk's twin, for 405)."""
        if node.rest:
            return True
        if i == n:
            return bool(node.here)
        child = node.static.get(segs[i])
        if child is not None and self._any_route(child, segs, i + 1, n):
            return True
        param = node.param
        return param is not None and self._any_route(param, segs, i + 1, n)

    def _pick(
        self,
        table: dict[str, tuple[str, T, tuple[str, ...]]],
        rest: bool,
        method: str,
        params: list[str],
        path: str,
        segs: list[str],
        i: int,
        n: int,
    ) -> Match[T] | None:
        entry = table.get(method)
        if entry is None:
            entry = table.get(ANY_METHOD)
            if entry is None and method == "HEAD":
                entry = table.get("GET")
            if entry is None:
                return None
        template, payload, names = entry
        values: dict[str, str] = {}
        k = 0
        while k < len(names) and k < len(params):
            values[names[k]] = params[k]
            k += 1
        if rest:
            # the path after segment i-1, without an ignored trailing slash: a slice of the
            # path itself rather than a join of the split segments
            start = 0
            for k in range(i):
                start += len(segs[k]) + 1
            values["**"] = path[start : len(path) - 1 if n < len(segs) else len(path)]
        return Match(payload, template, values)
