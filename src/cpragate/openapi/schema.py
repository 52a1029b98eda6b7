"""Turning OpenAPI Schema Objects into self-contained JSON Schema 2020-12 documents.

Theory of operation. Validators and the property walker want one plain JSON Schema
per body or parameter, with no file paths and no OpenAPI dialect. The
:class:`SchemaBundler` produces exactly that:

1. Every ``$ref`` is resolved (:mod:`cpragate.openapi.refs`) and its target is
   normalized once into a shared pool of definitions with a stable, readable name
   (``Pet``, ``Pet_2`` on a clash); the ref becomes ``#/$defs/Pet``. A bundle is the
   normalized root plus ``$defs`` holding only the definitions it can reach. Recursive
   schemas stay recursive (``Node -> #/$defs/Node``) and validate; nothing is inlined,
   so recursion can never blow up.
2. OpenAPI 3.0 is rewritten to 2020-12: ``nullable: true`` adds ``"null"`` to
   ``type`` (or wraps a type-less schema in ``anyOf [..., {type: null}]``),
   boolean ``exclusiveMinimum``/``exclusiveMaximum`` become numeric, ``$ref``
   siblings are dropped except ``readOnly``/``writeOnly``/``nullable`` (3.0 ignores
   siblings; those three are too common to ignore). ``format: int32``/``int64`` adds
   the matching ``minimum``/``maximum`` so oversized integers are refused in 3.0 and
   3.1 alike. Annotations nobody validates (``description``, ``example``, ``xml``,
   ``x-*``...) are dropped to keep compiled schemas small.
3. ``discriminator`` is made to mean what OpenAPI says: the property's value picks
   the schema. ``oneOf``/``anyOf`` + discriminator becomes a dispatch (an ``enum``
   check on the property, then ``if {const: v} then {$ref: target}`` per value) and is
   recorded as ``x-cpragate-discriminator`` so the property walker can dispatch in
   O(1). A discriminator on a parent schema without ``oneOf`` (the 3.0 ``allOf``
   polymorphism style) dispatches to the component schemas that ``allOf`` it. In both
   styles a child's ``allOf: [$ref Parent]`` is pointed at ``Parent~base`` (the parent
   without its dispatch), or validation would loop Parent -> Child -> Parent.
4. :func:`for_direction` derives the request and response variants: a ``readOnly``
   property is not required in a request, a ``writeOnly`` one not in a response.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal

from cpragate.errors import SpecSchemaError
from cpragate.openapi import pointer as jp
from cpragate.openapi.refs import Location, Resolver, is_ref

__all__ = [
    "DISCRIMINATOR_KEY",
    "DISPATCH_KEY",
    "Direction",
    "SchemaBundler",
    "for_direction",
    "resolve_local",
]

Direction = Literal["request", "response"]

DISCRIMINATOR_KEY = "x-cpragate-discriminator"
"""Annotation left on a dispatching schema: ``{"propertyName": p, "mapping": {value: def}}``."""
DISPATCH_KEY = "x-cpragate-dispatch"
"""Marks the ``allOf`` entries generated for a discriminator (the walker skips them)."""

_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
_SCHEMA_ONE = (
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
# Kept as they are: they constrain values or are read by the walker.
_PLAIN = frozenset(
    {
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        "format",
        "readOnly",
        "writeOnly",
        "contentEncoding",
        "contentMediaType",
    }
)
_REF_SIBLINGS_30 = ("readOnly", "writeOnly")
_INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def resolve_local(schema: Any, root: Any, *, once: bool = False) -> Any:
    """``schema`` with bundle-local ``$ref`` chains (``#/$defs/X``) followed inside ``root``.

    Only the ref is followed; sibling keywords of a ``$ref`` are not merged (callers that
    care, like the walker, look at both and pass ``once=True`` to take one step).
    """
    seen = 0
    limit = 1 if once else 64
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < limit:
        ref: str = schema["$ref"]
        if not ref.startswith("#"):
            return schema
        try:
            schema = jp.lookup(root, jp.parse(ref[1:], fragment=True))
        except (LookupError, ValueError):
            return {}
        seen += 1
    return schema


class SchemaBundler:
    """Normalizes and bundles the schemas of one spec (one instance per loaded spec)."""

    def __init__(self, resolver: Resolver, *, openapi_30: bool) -> None:
        self._resolver = resolver
        self._legacy = openapi_30
        self._names: dict[tuple[Path, str], str] = {}
        self._base_names: dict[tuple[Path, str], str] = {}
        self._defs: dict[str, Any] = {}
        self._dispatch_cache: dict[tuple[Path, str], dict[str, Location] | None] = {}

    # ------------------------------------------------------------------ public

    def bundle(self, at: Location) -> Any:
        """The self-contained JSON Schema for the schema at ``at``."""
        root = self._normalize(at.value(), at, component=None)
        if not isinstance(root, dict):
            return root
        names = self._reachable(root)
        if names:
            root = dict(root)
            root["$defs"] = {name: self._defs[name] for name in sorted(names)}
        return root

    # ------------------------------------------------------------------ naming

    def _new_name(self, location: Location, suffix: str = "") -> str:
        tokens = jp.parse(location.pointer)
        stem = tokens[-1] if tokens else location.document.path.stem
        base = (_NAME_CHARS.sub("_", stem) or "schema") + suffix
        name, n = base, 1
        while name in self._defs:
            n += 1
            name = f"{base}_{n}"
        return name

    def _define(self, target: Location) -> str:
        """The definition name for the schema at ``target`` (normalized on first use)."""
        target, raw = self._resolver.follow(target)
        known = self._names.get(target.key)
        if known is not None:
            return known
        name = self._new_name(target)
        self._names[target.key] = name
        self._defs[name] = True  # placeholder while normalizing: recursion finds the name
        self._defs[name] = self._normalize(raw, target, component=target)
        return name

    def _define_base(self, target: Location) -> str:
        """The definition of a discriminating parent without its dispatch (``Parent~base``)."""
        target, raw = self._resolver.follow(target)
        known = self._base_names.get(target.key)
        if known is not None:
            return known
        name = self._new_name(target, "~base")
        self._base_names[target.key] = name
        self._defs[name] = True
        self._defs[name] = self._normalize(raw, target, component=target, dispatch=False)
        return name

    def _reachable(self, root: Any) -> set[str]:
        found: set[str] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    name = jp.unescape(ref[len("#/$defs/") :])
                    if name not in found:
                        found.add(name)
                        stack.append(self._defs[name])
                stack.extend(v for k, v in node.items() if k != "$ref")
            elif isinstance(node, list):
                stack.extend(node)
        return found

    # ------------------------------------------------------------------ normalize

    def _error(self, at: Location, what: str, fix: str | None = None) -> SpecSchemaError:
        return SpecSchemaError(f"{at.where()}: {what}", fix=fix)

    def _normalize(
        self, node: Any, at: Location, *, component: Location | None, dispatch: bool = True
    ) -> Any:
        if isinstance(node, bool):
            if self._legacy:
                raise self._error(at, "a boolean schema needs OpenAPI 3.1.", "Use {} or {not: {}}.")
            return node
        if not isinstance(node, dict):
            raise self._error(
                at,
                f"a schema must be a mapping, not {type(node).__name__}.",
                "Write the schema as a mapping.",
            )
        if is_ref(node):
            return self._normalize_ref(node, at, component)

        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _PLAIN:
                out[key] = value
            elif key in _SCHEMA_MAPS:
                if not isinstance(value, dict):
                    raise self._error(at.child(key), f"{key} must be a mapping of schemas.")
                out[key] = {
                    name: self._normalize(sub, at.child(key, name), component=component)
                    for name, sub in value.items()
                }
            elif key in _SCHEMA_ONE:
                out[key] = self._normalize(value, at.child(key), component=component)
            elif key in _SCHEMA_LISTS:
                if key in ("oneOf", "anyOf") and dispatch is False and "discriminator" in node:
                    continue  # the ~base variant of a discriminating parent
                if not isinstance(value, list):
                    raise self._error(at.child(key), f"{key} must be a list of schemas.")
                out[key] = [
                    self._normalize_item(key, sub, at.child(key, i), component) for i, sub in enumerate(value)
                ]
            elif key == "items":
                if isinstance(value, list):  # draft-04..2019 tuple form
                    out["prefixItems"] = [
                        self._normalize(sub, at.child(key, i), component=component)
                        for i, sub in enumerate(value)
                    ]
                    extra = node.get("additionalItems")
                    if extra is not None:
                        out["items"] = self._normalize(
                            extra, at.child("additionalItems"), component=component
                        )
                else:
                    out["items"] = self._normalize(value, at.child(key), component=component)
        self._check_types(out, at)
        if self._legacy:
            self._legacy_numbers(out, at)
        self._int_bounds(out)
        if self._legacy and node.get("nullable") is True:
            out = self._nullable(out)
        disc = node.get("discriminator")
        if dispatch and isinstance(disc, dict):
            out = self._discriminate(node, out, at, component)
        return out

    def _normalize_item(self, key: str, sub: Any, at: Location, component: Location | None) -> Any:
        """A member of allOf/oneOf/...; a child's `allOf: [$ref Parent]` goes to Parent~base."""
        if key == "allOf" and component is not None and is_ref(sub):
            target, _ = self._resolver.follow(self._resolver.resolve(sub["$ref"], at))
            targets = self._dispatch_targets(target)
            if targets is not None and any(t.key == component.key for t in targets.values()):
                return {"$ref": "#/$defs/" + jp.escape(self._define_base(target))}
        return self._normalize(sub, at, component=component)

    def _normalize_ref(self, node: dict[str, Any], at: Location, component: Location | None) -> Any:
        target = self._resolver.resolve(node["$ref"], at)
        ref: dict[str, Any] = {"$ref": "#/$defs/" + jp.escape(self._define(target))}
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if not siblings:
            return ref
        if self._legacy:
            ref.update({k: siblings[k] for k in _REF_SIBLINGS_30 if k in siblings})
            if siblings.get("nullable") is True:
                return {"anyOf": [{"type": "null"}, ref]}
            return ref
        rest = self._normalize(siblings, at, component=component)
        if isinstance(rest, dict):
            ref.update(rest)
        return ref

    def _check_types(self, out: dict[str, Any], at: Location) -> None:
        kind = out.get("type")
        names = kind if isinstance(kind, list) else [kind]
        valid = {"string", "number", "integer", "boolean", "array", "object", "null"}
        for name in names:
            if kind is not None and name not in valid:
                raise self._error(
                    at.child("type"),
                    f"type {name!r} is not a JSON Schema type.",
                    "Use one of string, number, integer, boolean, array, object (or null in 3.1).",
                )

    def _legacy_numbers(self, out: dict[str, Any], at: Location) -> None:
        for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            value = out.get(flag)
            if isinstance(value, bool):
                del out[flag]
                if value:
                    if bound not in out:
                        raise self._error(
                            at.child(flag),
                            f"{flag}: true needs {bound}.",
                            f"Add {bound} or remove {flag}.",
                        )
                    out[flag] = out.pop(bound)

    def _int_bounds(self, out: dict[str, Any]) -> None:
        bounds = _INT_BOUNDS.get(out.get("format", ""))
        kind = out.get("type")
        if bounds is None or not (kind == "integer" or (isinstance(kind, list) and "integer" in kind)):
            return
        low, high = bounds
        if "minimum" not in out and "exclusiveMinimum" not in out:
            out["minimum"] = low
        if "maximum" not in out and "exclusiveMaximum" not in out:
            out["maximum"] = high

    def _nullable(self, out: dict[str, Any]) -> dict[str, Any]:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list):
            if "null" not in kind:
                out["type"] = [*kind, "null"]
        else:
            keep: dict[str, Any] = {k: out.pop(k) for k in ("readOnly", "writeOnly") if k in out}
            return {"anyOf": [{"type": "null"}, out], **keep}
        return out

    # ------------------------------------------------------------------ discriminator

    def _dispatch_targets(self, at: Location) -> dict[str, Location] | None:
        """Discriminator value -> target schema for the raw schema at ``at`` (None: no dispatch)."""
        cached = self._dispatch_cache.get(at.key, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        self._dispatch_cache[at.key] = None  # guards recursion while computing
        raw = at.value()
        result: dict[str, Location] | None = None
        disc = raw.get("discriminator") if isinstance(raw, dict) else None
        if isinstance(disc, dict) and isinstance(disc.get("propertyName"), str):
            result = self._mapping(raw, disc, at)
        self._dispatch_cache[at.key] = result
        return result

    def _mapping(self, raw: dict[str, Any], disc: dict[str, Any], at: Location) -> dict[str, Location] | None:
        root = Location(self._resolver.root_document, "")
        explicit: dict[str, Location] = {}
        mapping = disc.get("mapping") or {}
        if not isinstance(mapping, dict):
            raise self._error(at.child("discriminator", "mapping"), "mapping must be a mapping of strings.")
        for value, ref in mapping.items():
            if not isinstance(ref, str):
                raise self._error(
                    at.child("discriminator", "mapping", value), "a mapping value must be a string."
                )
            here = at.child("discriminator", "mapping", value)
            if "#" in ref or "/" in ref or ref.endswith((".yaml", ".yml", ".json")):
                loc = self._resolver.resolve(ref, here)
            else:
                loc = self._resolver.resolve(
                    "#/components/schemas/" + jp.escape(ref), Location(root.document, here.pointer)
                )
            explicit[str(value)] = self._resolver.follow(loc)[0]
        branches = raw.get("oneOf") or raw.get("anyOf")
        candidates: list[Location] = []
        if isinstance(branches, list):
            for i, branch in enumerate(branches):
                if is_ref(branch):  # inline branches are not considered (OpenAPI 3.x)
                    key = "oneOf" if "oneOf" in raw else "anyOf"
                    loc = self._resolver.resolve(branch["$ref"], at.child(key, i))
                    candidates.append(self._resolver.follow(loc)[0])
        else:
            candidates = self._subtypes(at)
            if not candidates and not explicit:
                return None
        targeted = {loc.key for loc in explicit.values()}
        result = dict(explicit)
        for loc in candidates:
            if loc.key in targeted:
                continue
            tokens = jp.parse(loc.pointer)
            result.setdefault(tokens[-1] if tokens else loc.document.path.stem, loc)
        return result or None

    def _subtypes(self, parent: Location) -> list[Location]:
        """Component schemas of the root document whose ``allOf`` names ``parent``."""
        found: list[Location] = []
        root = self._resolver.root_document
        schemas = root.data.get("components", {}).get("schemas", {}) if isinstance(root.data, dict) else {}
        if not isinstance(schemas, dict):
            return found
        for name, raw in schemas.items():
            here = Location(root, jp.join("/components/schemas", name))
            here, raw = self._resolver.follow(here)
            parts = raw.get("allOf") if isinstance(raw, dict) else None
            if not isinstance(parts, list) or here.key == parent.key:
                continue
            for i, part in enumerate(parts):
                if is_ref(part):
                    target = self._resolver.follow(
                        self._resolver.resolve(part["$ref"], here.child("allOf", i))
                    )[0]
                    if target.key == parent.key:
                        found.append(here)
                        break
        return found

    def _discriminate(
        self, raw: dict[str, Any], out: dict[str, Any], at: Location, component: Location | None
    ) -> dict[str, Any]:
        disc = raw["discriminator"]
        prop = disc.get("propertyName")
        if not isinstance(prop, str):
            raise self._error(at.child("discriminator"), "discriminator needs a string propertyName.")
        targets = self._dispatch_targets(at)
        if not targets:
            return out
        out = {k: v for k, v in out.items() if k not in ("oneOf", "anyOf")}
        names = {value: self._define(loc) for value, loc in targets.items()}
        parent_inferred = not isinstance(raw.get("oneOf") or raw.get("anyOf"), list)
        if parent_inferred and component is not None and at.key == component.key:
            # The parent's own name still validates as the parent (a non-abstract base).
            tokens = jp.parse(at.pointer)
            own = tokens[-1] if tokens else at.document.path.stem
            base = self._define_base(at)
            names.setdefault(own, base)
            out = {"$ref": "#/$defs/" + jp.escape(base)}
        checks: list[Any] = [
            {
                DISPATCH_KEY: True,
                "type": "object",
                "required": [prop],
                "properties": {prop: {"enum": sorted(names)}},
            }
        ]
        for value in sorted(names):
            checks.append(
                {
                    DISPATCH_KEY: True,
                    "if": {"properties": {prop: {"const": value}}, "required": [prop]},
                    "then": {"$ref": "#/$defs/" + jp.escape(names[value])},
                }
            )
        out["allOf"] = [*out.get("allOf", []), *checks]
        out[DISCRIMINATOR_KEY] = {"propertyName": prop, "mapping": names}
        return out


# ---------------------------------------------------------------------- directions


def _flag_set(schema: Any, root: Any, flag: str, depth: int = 0) -> bool:
    if depth > 16 or not isinstance(schema, dict):
        return False
    if schema.get(flag) is True:
        return True
    target = resolve_local(schema, root, once=True)
    if target is not schema and _flag_set(target, root, flag, depth + 1):
        return True
    return any(_flag_set(part, root, flag, depth + 1) for part in schema.get("allOf", ()))


def _flagged_names(schema: Any, root: Any, flag: str, depth: int = 0) -> set[str]:
    """Names of properties marked ``flag`` in ``schema`` and its ``allOf``/``$ref`` parts."""
    if depth > 16 or not isinstance(schema, dict):
        return set()
    names = {name for name, sub in (schema.get("properties") or {}).items() if _flag_set(sub, root, flag)}
    target = resolve_local(schema, root, once=True)
    if target is not schema:
        names |= _flagged_names(target, root, flag, depth + 1)
    for part in schema.get("allOf", ()):
        names |= _flagged_names(part, root, flag, depth + 1)
    return names


def for_direction(bundle: Any, direction: Direction) -> Any:
    """A copy of ``bundle`` where ``readOnly`` (request) or ``writeOnly`` (response)
    properties are no longer ``required``; other keywords are untouched."""
    if not isinstance(bundle, dict):
        return bundle
    flag = "readOnly" if direction == "request" else "writeOnly"
    result = copy.deepcopy(bundle)
    stack: list[Any] = [result]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            required = node.get("required")
            if isinstance(required, list) and required:
                drop = _flagged_names(node, result, flag)
                if drop:
                    node["required"] = [name for name in required if name not in drop]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return result
