"""Routes from OpenAPI specs: ``from_openapi`` route entries and ``openapi:`` bindings.

A route entry with ``from_openapi`` stands for one route per operation of the spec::

    routes:
      - from_openapi: specs/customers.yaml   # relative to the config file's folder
        upstream: api
        path_prefix: ""                      # prepended to every spec path
        exclude: [deleteCustomer]            # operationIds (or "METHOD /path") left out
        personal: true                       # any other route key: applies to every route
        validation: {mode: monitor}
        overrides:                           # per operationId (or "METHOD /path"), merged
          createTicket: {max_body_bytes: 65536, validation: {privileged: [...]}}

Each generated route is an ordinary route: ``name`` = the operationId, ``path`` = prefix +
the spec's path, ``methods`` = the operation's method (GET also answers HEAD), and
``openapi: {spec, operation}`` binding it to its operation. Mappings in overrides are
merged key by key into the entry's values; lists and scalars replace them.

:func:`expand` runs on the raw YAML data before validation, so config errors keep the
line of the entry that produced them (:class:`Expansion` maps generated routes back).
:func:`bind` runs after validation: it loads each spec once (a broken spec is a config
error naming the spec's file and JSON pointer) and attaches the compiled operation to
every route's ``openapi`` binding.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpragate.errors import SpecError

if TYPE_CHECKING:
    from cpragate.config.model import GatewayConfig
    from cpragate.openapi.model import Operation, Spec

__all__ = ["Expansion", "bind", "expand"]

Loc = tuple[Any, ...]
Problem = tuple[Loc, str]

_ENTRY_KEYS = {"from_openapi", "path_prefix", "exclude", "overrides"}
_GENERATED = {"name", "path", "methods", "openapi"}


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def _key(op: Operation) -> str:
    return op.operation_id or f"{op.method} {op.path}"


@dataclass
class Expansion:
    """The routes after expansion and where each came from in the YAML."""

    data: dict[str, Any]
    origins: list[tuple[int, str | None]] = field(default_factory=list)
    """Per expanded route: (index of the YAML entry, operation key or None for a plain route)."""
    specs: dict[Path, Spec] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    """The ``from_openapi`` entries as written, by YAML index."""

    def origin(self, loc: Loc) -> Loc:
        """``loc`` in the expanded config as a location in the YAML as written."""
        if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int) and loc[1] < len(self.origins):
            index, key = self.origins[loc[1]]
            rest = loc[2:]
            if key is None:
                return ("routes", index, *rest)
            entry = self.entries.get(index, {})
            over = (entry.get("overrides") or {}).get(key)
            if rest and isinstance(over, dict) and rest[0] in over:
                return ("routes", index, "overrides", key, *rest)
            if rest and rest[0] in entry and rest[0] not in _GENERATED:
                return ("routes", index, *rest)
            return ("routes", index, "from_openapi")
        return loc


def _load(path: Path, specs: dict[Path, Spec]) -> Spec:
    from cpragate.openapi import load_spec

    found = specs.get(path)
    if found is None:
        found = specs[path] = load_spec(path)
    return found


def expand(data: dict[str, Any], base_dir: Path) -> Expansion:
    """Replace every ``from_openapi`` entry of ``data["routes"]`` by its routes."""
    out = Expansion(data)
    routes = data.get("routes")
    if not isinstance(routes, list) or not any(isinstance(r, dict) and "from_openapi" in r for r in routes):
        out.origins = [(i, None) for i in range(len(routes))] if isinstance(routes, list) else []
        return out
    from cpragate.config.model import Route

    allowed = set(Route.model_fields) - _GENERATED
    expanded: list[Any] = []
    for i, entry in enumerate(routes):
        if not (isinstance(entry, dict) and "from_openapi" in entry):
            expanded.append(entry)
            out.origins.append((i, None))
            continue
        here = ("routes", i)
        out.entries[i] = entry
        bad = [k for k in entry if k not in _ENTRY_KEYS and k not in allowed]
        for k in bad:
            hint = " (set by from_openapi; change it in the spec)" if k in _GENERATED else ""
            out.problems.append(((*here, k), f"not allowed in a from_openapi entry{hint}"))
        spec_ref = entry.get("from_openapi")
        prefix = entry.get("path_prefix", "") or ""
        exclude = entry.get("exclude", []) or []
        overrides = entry.get("overrides", {}) or {}
        if not isinstance(spec_ref, str) or not spec_ref:
            out.problems.append(((*here, "from_openapi"), "must be the path of an OpenAPI file"))
            continue
        if not isinstance(prefix, str) or (prefix and (not prefix.startswith("/") or prefix.endswith("/"))):
            out.problems.append(((*here, "path_prefix"), "must start with '/' and not end with '/' (e.g. /api)"))
            continue
        if not isinstance(exclude, list) or not isinstance(overrides, dict):
            out.problems.append((here, "exclude must be a list and overrides a mapping of operation -> route keys"))
            continue
        path = Path(spec_ref)
        if not path.is_absolute():
            path = base_dir / path
        try:
            spec = _load(path, out.specs)
        except SpecError as e:
            out.problems.append(((*here, "from_openapi"), str(e)))
            continue
        keys = {_key(op) for op in spec.operations}
        for name in [*exclude, *overrides]:
            if name not in keys:
                where = "exclude" if name in exclude else "overrides"
                out.problems.append(
                    ((*here, where), f"{name!r} is not an operation of {spec_ref}; operations: {sorted(keys)}")
                )
        defaults = {k: v for k, v in entry.items() if k not in _ENTRY_KEYS and k in allowed}
        for op in spec.operations:
            key = _key(op)
            if key in exclude:
                continue
            route: dict[str, Any] = copy.deepcopy(defaults)
            route.update(
                name=key,
                path=prefix + op.path,
                methods=[op.method],
                openapi={"spec": spec_ref, "operation": key},
            )
            over = overrides.get(key)
            if over is not None:
                if not isinstance(over, dict):
                    out.problems.append(((*here, "overrides", key), "must be a mapping of route keys"))
                    continue
                for k in over:
                    if k not in allowed:
                        out.problems.append(((*here, "overrides", key, k), "not a route key that can be overridden"))
                route = _merge(route, {k: v for k, v in over.items() if k in allowed})
            expanded.append(route)
            out.origins.append((i, key))
    out.data = {**data, "routes": expanded}
    return out


def _template_names(template: str) -> list[str]:
    from cpragate.openapi.paths import template_parameters

    return template_parameters(template)


def bind(cfg: GatewayConfig, base_dir: Path, expansion: Expansion) -> list[Problem]:
    """Attach the compiled operation to every route's ``openapi`` binding."""
    problems: list[Problem] = []
    for i, route in enumerate(cfg.routes):
        b = route.openapi
        if b is None:
            continue
        loc = expansion.origin(("routes", i, "openapi"))
        path = Path(b.spec)
        if not path.is_absolute():
            path = base_dir / path
        try:
            spec = _load(path, expansion.specs)
        except SpecError as e:
            problems.append(((*loc, "spec"), str(e)))
            continue
        op = spec.operation(b.operation)
        if op is None:
            method, _, template = b.operation.partition(" ")
            op = spec.route(method, template.strip()) if template else None
        if op is None:
            problems.append(
                ((*loc, "operation"), f"{b.operation!r} is not an operationId or 'METHOD /path' of {b.spec}")
            )
            continue
        mine, theirs = _template_names(route.path), _template_names(op.path)
        if len(mine) != len(theirs):
            problems.append(
                (
                    (*loc, "operation"),
                    f"route {route.path} has {len(mine)} path parameter(s), operation {op.path} has {len(theirs)}",
                )
            )
            continue
        if route.methods != ["*"] and any(m not in (op.method, "HEAD") for m in route.methods):
            problems.append(
                ((*loc, "operation"), f"route methods {route.methods} do not match the operation's {op.method}")
            )
            continue
        b.bind(op, tuple((a, z) for a, z in zip(mine, theirs, strict=True) if a != z))
    return problems
