"""Which properties of a document a schema declares: for conformance and mass assignment.

:class:`PropertyShape` is a schema compiled for walking a document beside it. It
answers three questions about a parsed JSON instance:

- :meth:`PropertyShape.undeclared`: JSON pointers of properties the schema does not
  declare (excessive data exposure in a response, mass assignment in a request);
- :meth:`PropertyShape.read_only`: JSON pointers of ``readOnly`` properties present
  (a client must not set them on a write);
- :meth:`PropertyShape.strip_undeclared`: removes undeclared properties in place and
  returns their pointers.

Rules of the walk:

- ``allOf`` parts and ``$ref`` targets always apply; a property is declared when any
  applicable part declares it in ``properties``, matches ``patternProperties``, or an
  ``additionalProperties`` schema (or ``true``) admits it.
- An object schema that declares nothing (no ``properties``, ``patternProperties`` or
  ``additionalProperties`` in any applicable part) is a free-form object: all its
  properties are declared. ``additionalProperties: false`` declares nothing extra.
- ``oneOf``/``anyOf``: the branches the instance is valid against apply (checked with
  a compiled validator per branch); when none is valid, every branch applies, so a
  property is only reported when no branch could have declared it.
- ``if``/``then``/``else``: the branch chosen by the compiled ``if`` applies.
- A discriminator (see :mod:`cpragate.openapi.schema`) picks its branch by the
  property value in O(1).
- Arrays: ``prefixItems`` by position, then ``items``.

Pointers name places, never values. Walking is iterative over the schema graph (a
recursive schema is fine) and recursive over the instance, whose depth the caller
bounds first with :func:`~cpragate.openapi.limits.check_limits`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from cpragate.openapi import pointer as jp
from cpragate.openapi.schema import DISCRIMINATOR_KEY, DISPATCH_KEY, resolve_local
from cpragate.openapi.validator import SchemaValidator

__all__ = ["PropertyShape", "schema_depth"]


class _Node:
    """One schema object's own keywords, compiled; ``parts`` are the schemas that also apply."""

    __slots__ = (
        "additional",
        "branches",
        "conditions",
        "declares",
        "dispatch",
        "flat",
        "items",
        "parts",
        "patterns",
        "prefix",
        "properties",
        "read_only",
        "simple",
    )

    def __init__(self) -> None:
        self.properties: dict[str, _Node] = {}
        self.patterns: list[tuple[re.Pattern[str], _Node]] = []
        self.additional: _Node | None = None
        self.declares = False
        self.items: _Node | None = None
        self.prefix: list[_Node] = []
        self.parts: list[_Node] = []
        self.branches: list[list[tuple[SchemaValidator, _Node]]] = []
        self.conditions: list[tuple[SchemaValidator, _Node | None, _Node | None]] = []
        self.dispatch: tuple[str, dict[str, _Node]] | None = None
        self.read_only: frozenset[str] = frozenset()
        self.simple = True
        self.flat: _Node | None = None
        """This node merged with all its parts, when none of them needs the instance to decide."""


_ANY = _Node()
_ANY.flat = _ANY

# strict_schema: keywords that make more than one schema object describe one place
# (or describe it conditionally); a schema with any of them gets no strict variant.
_STRICT_KEYS = frozenset(
    {
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "dependentSchemas",
        "unevaluatedProperties",
        "unevaluatedItems",
        "$dynamicRef",
        "$recursiveRef",
        DISCRIMINATOR_KEY,
    }
)
_STRUCTURE_KEYS = frozenset({"properties", "patternProperties", "additionalProperties", "items", "prefixItems"})


class PropertyShape:
    """A schema compiled for property walks (see the module docstring).

    :param schema: a bundled JSON Schema (``$defs`` at its root for every ``$ref``).
    """

    __slots__ = (
        "_closed_read_only",
        "_closed_undeclared",
        "_memo",
        "_root",
        "_root_node",
        "_validators",
    )

    def __init__(self, schema: Any) -> None:
        self._root = schema
        self._memo: dict[int, _Node] = {}
        self._validators: dict[int, SchemaValidator] = {}
        self._root_node = self._compile(schema)
        self._flatten()
        self._closed_undeclared = self._closed("undeclared")
        self._closed_read_only = self._closed("read_only")

    # ------------------------------------------------------------------ compile

    def _validator(self, schema: Any) -> SchemaValidator:
        found = self._validators.get(id(schema))
        if found is None:
            standalone = schema
            defs = self._root.get("$defs") if isinstance(self._root, dict) else None
            if isinstance(schema, dict) and defs:
                standalone = {**schema, "$defs": defs}
            found = SchemaValidator(standalone)
            self._validators[id(schema)] = found
        return found

    def _compile(self, schema: Any) -> _Node:
        if not isinstance(schema, dict):
            return _ANY  # `true`; `false` admits nothing, so nothing is walked below it
        known = self._memo.get(id(schema))
        if known is not None:
            return known
        node = _Node()
        self._memo[id(schema)] = node  # before recursing: recursive schemas terminate
        target = resolve_local(schema, self._root, once=True)
        if target is not schema:
            node.parts.append(self._compile(target))
        props = schema.get("properties")
        if isinstance(props, dict):
            node.declares = True
            node.properties = {name: self._compile(sub) for name, sub in props.items()}
            node.read_only = frozenset(name for name, sub in props.items() if self._flag(sub, "readOnly"))
        patterns = schema.get("patternProperties")
        if isinstance(patterns, dict):
            node.declares = True
            node.patterns = [(re.compile(p), self._compile(sub)) for p, sub in patterns.items()]
        if "additionalProperties" in schema:
            node.declares = True
            extra = schema["additionalProperties"]
            if extra is not False:
                node.additional = self._compile(extra)
        if "items" in schema and schema["items"] is not False:
            node.items = self._compile(schema["items"])
        if isinstance(schema.get("prefixItems"), list):
            node.prefix = [self._compile(sub) for sub in schema["prefixItems"]]
        for part in schema.get("allOf", ()):
            if isinstance(part, dict) and part.get(DISPATCH_KEY):
                continue  # generated discriminator checks; `dispatch` below covers them
            node.parts.append(self._compile(part))
        for key in ("oneOf", "anyOf"):
            group = schema.get(key)
            if isinstance(group, list) and group:
                node.branches.append([(self._validator(s), self._compile(s)) for s in group])
        if "if" in schema and ("then" in schema or "else" in schema):
            then = self._compile(schema["then"]) if "then" in schema else None
            other = self._compile(schema["else"]) if "else" in schema else None
            node.conditions.append((self._validator(schema["if"]), then, other))
        disc = schema.get(DISCRIMINATOR_KEY)
        if isinstance(disc, dict):
            defs = self._root.get("$defs", {}) if isinstance(self._root, dict) else {}
            node.dispatch = (
                disc["propertyName"],
                {value: self._compile(defs.get(name, {})) for value, name in disc["mapping"].items()},
            )
        node.simple = not (node.parts or node.branches or node.conditions or node.dispatch)
        return node

    def _flatten(self) -> None:
        """Merge every node whose parts are all static into one node (``flat``).

        Most schemas (plain objects, ``$ref``, ``allOf``) are static, so the walk then
        does one dictionary look-up per property instead of gathering parts each time.
        """
        pending = list(self._memo.values())
        while pending:
            node = pending.pop()
            if node.flat is not None:
                continue
            closure: list[_Node] = []
            seen: set[int] = set()
            stack = [node]
            static = True
            while stack:
                part = stack.pop()
                if id(part) in seen:
                    continue
                seen.add(id(part))
                if part.branches or part.conditions or part.dispatch is not None:
                    static = False
                    break
                closure.append(part)
                stack.extend(reversed(part.parts))
            if static:
                node.flat = self._merge(closure, pending)

    def _merge(self, closure: list[_Node], pending: list[_Node]) -> _Node:
        if len(closure) == 1 and not closure[0].parts:
            return closure[0]
        merged = _Node()
        merged.flat = merged

        def combine(a: _Node | None, b: _Node) -> _Node:
            if a is None or a is b:
                return b
            both = _Node()
            both.parts = [a, b]
            both.simple = False
            pending.append(both)
            return both

        read_only: set[str] = set()
        for part in closure:
            merged.declares |= part.declares
            for name, child in part.properties.items():
                merged.properties[name] = combine(merged.properties.get(name), child)
            merged.patterns.extend(part.patterns)
            if part.additional is not None:
                merged.additional = combine(merged.additional, part.additional)
            if part.items is not None:
                merged.items = combine(merged.items, part.items)
            if part.prefix and not merged.prefix:
                merged.prefix = part.prefix
            read_only |= part.read_only
        merged.read_only = frozenset(read_only)
        return merged

    def _closed(self, mode: str) -> SchemaValidator | None:
        """A JSON Schema that is valid exactly when the walk would find nothing.

        Only for fully static schemas (no oneOf/anyOf/if/discriminator anywhere): Rust
        then answers the common "nothing to report" case in one call, and the Python
        walk runs only for documents that do have something to report.
        """
        root = self._root_node.flat
        if root is None:
            return None
        names: dict[int, str] = {}
        defs: dict[str, Any] = {}
        order: list[_Node] = [root]

        def ref(node: _Node) -> Any:
            flat = node.flat
            if flat is None:
                raise LookupError  # a dynamic node below the root: no closed schema
            if flat is _ANY:
                return True
            name = names.get(id(flat))
            if name is None:
                name = names[id(flat)] = f"n{len(names)}"
                order.append(flat)
            return {"$ref": "#/$defs/" + name}

        try:
            root_ref = ref(root)
            done = 0
            while done < len(order):
                node = order[done]
                done += 1
                if node is _ANY:
                    continue
                out: dict[str, Any] = {}
                props = {key: ref(child) for key, child in node.properties.items()}
                if mode == "read_only":
                    props.update(dict.fromkeys(node.read_only, False))
                if props:
                    out["properties"] = props
                if node.patterns:
                    out["patternProperties"] = {p.pattern: ref(sub) for p, sub in node.patterns}
                if node.additional is not None:
                    out["additionalProperties"] = ref(node.additional)
                elif mode == "undeclared" and node.declares:
                    out["additionalProperties"] = False
                if node.items is not None:
                    out["items"] = ref(node.items)
                if node.prefix:
                    out["prefixItems"] = [ref(sub) for sub in node.prefix]
                defs[names[id(node)]] = out
        except LookupError:
            return None
        if root_ref is True:
            return SchemaValidator(True)
        return SchemaValidator({**root_ref, "$defs": defs})

    def _flag(self, schema: Any, flag: str, depth: int = 0) -> bool:
        if not isinstance(schema, dict) or depth > 16:
            return False
        if schema.get(flag) is True:
            return True
        target = resolve_local(schema, self._root, once=True)
        if target is not schema and self._flag(target, flag, depth + 1):
            return True
        return any(self._flag(part, flag, depth + 1) for part in schema.get("allOf", ()))

    # ------------------------------------------------------------------ walk

    def _applicable(self, nodes: list[_Node], instance: Any) -> list[_Node]:
        """``nodes`` plus every part, branch and condition that applies to ``instance``."""
        if len(nodes) == 1 and nodes[0].flat is not None:
            return [nodes[0].flat]
        out: list[_Node] = []
        seen: set[int] = set()
        stack = list(reversed(nodes))
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.flat is not None:
                out.append(node.flat)
                continue
            out.append(node)
            stack.extend(node.parts)
            if node.dispatch is not None and isinstance(instance, dict):
                prop, mapping = node.dispatch
                chosen = mapping.get(instance.get(prop))  # type: ignore[arg-type]
                if chosen is not None:
                    stack.append(chosen)
            for group in node.branches:
                valid = [shape for check, shape in group if check.is_valid(instance)]
                stack.extend(valid or [shape for _, shape in group])
            for check, then, other in node.conditions:
                branch = then if check.is_valid(instance) else other
                if branch is not None:
                    stack.append(branch)
        return out

    def _walk(
        self,
        instance: Any,
        nodes: list[_Node],
        path: tuple[str | int, ...],
        undeclared: list[str] | None,
        read_only: list[str] | None,
        strip: bool,
    ) -> None:
        if type(instance) is dict:
            applicable = self._applicable(nodes, instance)
            if len(applicable) == 1:
                self._walk_object(instance, applicable[0], path, undeclared, read_only, strip)
                return
            declares = any(node.declares for node in applicable)
            remove: list[str] = []
            for key, value in instance.items():
                children: list[_Node] = []
                declared = not declares
                for node in applicable:
                    child = node.properties.get(key)
                    if child is not None:
                        children.append(child)
                        declared = True
                        if read_only is not None and key in node.read_only:
                            read_only.append(jp.from_tokens((*path, key)))
                        continue
                    matched = False
                    for pattern, sub in node.patterns:
                        if pattern.search(key):
                            children.append(sub)
                            matched = True
                    if matched:
                        declared = True
                    elif node.additional is not None:
                        children.append(node.additional)
                        declared = True
                if not declared:
                    if undeclared is not None:
                        undeclared.append(jp.from_tokens((*path, key)))
                    if strip:
                        remove.append(key)
                    continue
                if children and type(value) in (dict, list):
                    self._walk(value, children, (*path, key), undeclared, read_only, strip)
            for key in remove:
                del instance[key]
        elif type(instance) is list:
            applicable = self._applicable(nodes, instance)
            items = [node.items for node in applicable if node.items is not None]
            prefixes = [node.prefix for node in applicable if node.prefix]
            for index, value in enumerate(instance):
                if type(value) not in (dict, list):
                    continue
                children = [p[index] for p in prefixes if index < len(p)]
                if not children:
                    children = items
                if children:
                    self._walk(value, children, (*path, index), undeclared, read_only, strip)

    def _walk_object(
        self,
        instance: dict[str, Any],
        node: _Node,
        path: tuple[str | int, ...],
        undeclared: list[str] | None,
        read_only: list[str] | None,
        strip: bool,
    ) -> None:
        """The common case: one merged schema node for an object."""
        props = node.properties
        remove: list[str] = []
        for key, value in instance.items():
            child = props.get(key)
            if child is None:
                for pattern, sub in node.patterns:
                    if pattern.search(key):
                        child = sub
                        break
                else:
                    child = node.additional
                if child is None:
                    if node.declares:
                        if undeclared is not None:
                            undeclared.append(jp.from_tokens((*path, key)))
                        if strip:
                            remove.append(key)
                    continue
            elif read_only is not None and key in node.read_only:
                read_only.append(jp.from_tokens((*path, key)))
            kind = type(value)
            if (kind is dict or kind is list) and child is not _ANY:
                self._walk(value, [child], (*path, key), undeclared, read_only, strip)
        for key in remove:
            del instance[key]

    # ------------------------------------------------------------------ public

    def closed_schema(self, mode: str) -> Any | None:
        """The JSON Schema valid exactly when :meth:`undeclared` (``mode="undeclared"``) or
        :meth:`read_only` (``mode="read_only"``) would find nothing; None when the schema has
        parts only a walk can decide (oneOf/anyOf/if/discriminator)."""
        closed = self._closed_undeclared if mode == "undeclared" else self._closed_read_only
        return closed.schema if closed is not None else None

    def strict_schema(self, read_only: bool) -> Any | None:
        """The schema itself, made to refuse what the walk would report: one traversal.

        A copy where every object schema that declares properties gets
        ``additionalProperties: false`` (an undeclared property is invalid) and, with
        ``read_only``, every ``readOnly`` property becomes ``false`` (present is invalid).
        It is valid exactly when the schema holds and :meth:`undeclared` (and
        :meth:`read_only`) would find nothing. Only for schemas where each place of a
        document is described by one schema object (``$ref`` chains allowed): with
        ``allOf``/``anyOf``/``oneOf``/``if``/``not``... a closed object would refuse what a
        sibling part declares, so None (use :meth:`closed_schema` beside the schema).
        """
        if not isinstance(self._root, dict):
            return self._root
        root = copy.deepcopy(self._root)
        stack: list[Any] = [root]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                continue  # true/false
            if not _STRICT_KEYS.isdisjoint(node):
                return None
            if "$ref" in node and not _STRUCTURE_KEYS.isdisjoint(node):
                return None  # a 3.1 $ref with siblings is an implicit allOf
            props = node.get("properties")
            if isinstance(props, dict):
                stack.extend(props.values())
                if read_only:
                    for name, sub in props.items():
                        if self._flag(sub, "readOnly"):
                            props[name] = False
            for key in ("patternProperties", "$defs"):
                group = node.get(key)
                if isinstance(group, dict):
                    stack.extend(group.values())
            for key in ("additionalProperties", "items"):
                if key in node:
                    stack.append(node[key])
            if isinstance(node.get("prefixItems"), list):
                stack.extend(node["prefixItems"])
            if ("properties" in node or "patternProperties" in node) and "additionalProperties" not in node:
                node["additionalProperties"] = False
        return root

    def undeclared(self, instance: Any) -> list[str]:
        """JSON pointers of the properties in ``instance`` that the schema does not declare."""
        if self._closed_undeclared is not None and self._closed_undeclared.is_valid(instance):
            return []
        found: list[str] = []
        self._walk(instance, [self._root_node], (), found, None, False)
        return found

    def read_only(self, instance: Any) -> list[str]:
        """JSON pointers of the ``readOnly`` properties present in ``instance``."""
        if self._closed_read_only is not None and self._closed_read_only.is_valid(instance):
            return []
        found: list[str] = []
        self._walk(instance, [self._root_node], (), None, found, False)
        return found

    def strip_undeclared(self, instance: Any) -> list[str]:
        """Remove undeclared properties from ``instance`` in place; returns their pointers."""
        if self._closed_undeclared is not None and self._closed_undeclared.is_valid(instance):
            return []
        found: list[str] = []
        self._walk(instance, [self._root_node], (), found, None, True)
        return found


def _value_depth(value: Any) -> int:
    """Nesting depth of a JSON value: 0 for a scalar, 1 for a flat array or object."""
    if isinstance(value, dict):
        return 1 + max((_value_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_value_depth(v) for v in value), default=0)
    return 0


def schema_depth(root: Any) -> int | None:
    """The deepest nesting of arrays/objects a document valid against ``root`` can have
    (the top-level container is 1, as in :mod:`cpragate.openapi.limits`); None when it is
    unbounded: recursion, a free-form object or array, or a schema that admits anything.

    Meant for closed schemas (:meth:`PropertyShape.strict_schema`); only ``$ref``,
    ``properties``, ``patternProperties``, ``additionalProperties``, ``items``,
    ``prefixItems``, ``type``, ``enum`` and ``const`` are read, so a schema with other
    applicators gets a bound only if those alone bound it (others only restrict).
    """
    active: set[int] = set()

    def depth(schema: Any) -> int | None:
        if schema is False:
            return 0
        if not isinstance(schema, dict):
            return None  # true (or not a schema): anything, at any depth
        if id(schema) in active:
            return None  # recursive
        active.add(id(schema))
        try:
            return measure(schema)
        finally:
            active.discard(id(schema))

    def measure(schema: dict[str, Any]) -> int | None:
        if "$ref" in schema:
            target = resolve_local(schema, root, once=True)
            return depth(target) if target is not schema else None
        if "const" in schema:
            return _value_depth(schema["const"])
        if isinstance(schema.get("enum"), list):
            return max((_value_depth(v) for v in schema["enum"]), default=0)
        kind = schema.get("type")
        types = {kind} if isinstance(kind, str) else set(kind) if isinstance(kind, list) else {"object", "array"}
        deepest = 0
        if "object" in types:
            children = [schema.get("additionalProperties", True)]
            children += list((schema.get("properties") or {}).values())
            children += list((schema.get("patternProperties") or {}).values())
            found = [depth(child) for child in children]
            if any(d is None for d in found):
                return None
            deepest = 1 + max((d for d in found if d is not None), default=0)
        if "array" in types:
            children = [schema.get("items", True), *(schema.get("prefixItems") or [])]
            found = [depth(child) for child in children]
            if any(d is None for d in found):
                return None
            deepest = max(deepest, 1 + max((d for d in found if d is not None), default=0))
        return deepest

    return depth(root)
