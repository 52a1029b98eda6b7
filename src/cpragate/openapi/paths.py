"""Matching concrete request paths to OpenAPI path templates (``/pets/{id}``).

OpenAPI says a concrete path wins over a templated one (``/pets/mine`` before
``/pets/{id}``); among templates, the one with more literal characters wins, then
the one written first. Each template compiles to one regex at load time; a
parameter matches one non-empty path segment (never a ``/``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from cpragate.errors import SpecError

__all__ = ["PathMatcher", "template_parameters"]

_PARAM = re.compile(r"\{([^{}/]+)\}")


def template_parameters(template: str) -> list[str]:
    """The parameter names in ``template``, in order: ``/a/{x}/{y}`` -> ``["x", "y"]``."""
    return _PARAM.findall(template)


class PathMatcher:
    """Finds the template a request path belongs to."""

    __slots__ = ("_exact", "_patterns")

    def __init__(self, templates: Iterable[str]) -> None:
        self._exact: dict[str, str] = {}
        compiled: list[tuple[int, int, str, re.Pattern[str], list[str]]] = []
        for order, template in enumerate(templates):
            names = template_parameters(template)
            if not names:
                self._exact[template] = template
                continue
            if len(set(names)) != len(names):
                raise SpecError(
                    f"path template {template!r} names a parameter twice.",
                    fix="Give every path parameter in a template a distinct name.",
                )
            pattern, last = "", 0
            for match in _PARAM.finditer(template):
                pattern += re.escape(template[last : match.start()]) + "([^/]+)"
                last = match.end()
            pattern += re.escape(template[last:])
            literal = len(_PARAM.sub("", template))
            compiled.append((-literal, order, template, re.compile(pattern), names))
        compiled.sort(key=lambda item: (item[0], item[1]))
        self._patterns = [(template, rx, names) for _, _, template, rx, names in compiled]

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """``(template, {name: percent-decoded value})`` for ``path``, or None."""
        exact = self._exact.get(path)
        if exact is not None:
            return exact, {}
        for template, rx, names in self._patterns:
            found = rx.fullmatch(path)
            if found is not None:
                return template, {n: unquote(v) for n, v in zip(names, found.groups(), strict=True)}
        return None
