"""What the scanner derives from an OpenAPI operation: example values, its kind
(login, registration, list, item, administrative), the properties it declares.

Everything is a heuristic over the spec alone (names, formats, tags, methods), so it
works on any API; nothing here knows a particular API.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from cpragate.openapi import Operation, Parameter

__all__ = [
    "ADMIN_RE",
    "DESTRUCTIVE_RE",
    "body_schema",
    "declared_properties",
    "example",
    "is_login",
    "is_register",
    "logged_in",
    "looks_admin",
    "marker",
    "path_params",
    "resolve",
    "response_schema",
]

ADMIN_RE = re.compile(
    r"(^|[/_.\-{])(admin\w*|internal|manage(ment)?|debug|superuser|sudo|root|staff|moderator|backoffice|ops|"
    r"system|sysadmin|privileged|impersonat\w*)([/_.\-}]|$)",
    re.I,
)
DESTRUCTIVE_RE = re.compile(
    r"(delete|remove|destroy|purge|reset|wipe|drop|truncate|cancel|revoke|terminate|shutdown|"
    r"(create|init|setup|seed|populate|reload)_?(db|database|data)|restore|migrate)",
    re.I,
)
_LOGIN_RE = re.compile(r"(log-?in|sign-?in|authenticat|/auth(/|$)|/token(/|$)|/session)", re.I)
_REGISTER_RE = re.compile(r"(regist|sign-?up|/users/?$|/accounts/?$)", re.I)
_PASSWORD_RE = re.compile(r"^(pass(word|wd)?|pwd)$", re.I)
_USER_RE = re.compile(r"^(user(name)?|login|email|e-mail|account|handle)$", re.I)


def marker() -> str:
    """A short random tag that makes values the scanner wrote recognisable."""
    return "cpgscan" + secrets.token_hex(4)


def resolve(node: Any, root: Any, depth: int = 0) -> Any:
    """``node`` with local ``$ref`` (``#/$defs/X``) and ``allOf`` folded in; {} when unknown."""
    if not isinstance(node, dict) or depth > 16:
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        return resolve(target, root, depth + 1)
    if "allOf" in node and isinstance(node["allOf"], list):
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        props: dict[str, Any] = dict(merged.get("properties") or {})
        required: list[Any] = list(merged.get("required") or [])
        for part in node["allOf"]:
            sub = resolve(part, root, depth + 1)
            props.update(sub.get("properties") or {})
            required += list(sub.get("required") or [])
            for k in ("type", "additionalProperties"):
                if k in sub and k not in merged:
                    merged[k] = sub[k]
        merged["properties"] = props
        merged["required"] = required
        return merged
    for key in ("oneOf", "anyOf"):
        if isinstance(node.get(key), list) and node[key]:
            first = resolve(node[key][0], root, depth + 1)
            return {**{k: v for k, v in node.items() if k != key}, **first}
    return node


def _types(node: Mapping[str, Any]) -> list[str]:
    t = node.get("type")
    if isinstance(t, list):
        return [x for x in t if x != "null"] or ["null"]
    if isinstance(t, str):
        return [t]
    if "properties" in node:
        return ["object"]
    if "items" in node:
        return ["array"]
    return ["string"]


def example(node: Any, root: Any, *, name: str = "", tag: str = "", depth: int = 0, writing: bool = True) -> Any:
    """A value valid for the schema ``node`` (best effort), recognisable by ``tag``.

    Uses ``example``/``examples``/``default``/``enum``/``const`` first, then the type,
    format and the property ``name`` (an ``email`` gets an address, a ``password`` a strong
    password). ``writing`` leaves out ``readOnly`` properties.
    """
    node = resolve(node, root)
    if depth > 8:
        return None
    for key in ("const",):
        if key in node:
            return node[key]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    if "example" in node:
        return node["example"]
    if isinstance(node.get("examples"), list) and node["examples"]:
        return node["examples"][0]
    if "default" in node:
        return node["default"]
    kind = _types(node)[0]
    if kind == "object":
        props = node.get("properties") or {}
        out: dict[str, Any] = {}
        for pname, pschema in props.items():
            sub = resolve(pschema, root)
            if writing and sub.get("readOnly"):
                continue
            if not writing and sub.get("writeOnly"):
                continue
            out[pname] = example(sub, root, name=pname, tag=tag, depth=depth + 1, writing=writing)
        return out
    if kind == "array":
        item = example(node.get("items") or {}, root, name=name, tag=tag, depth=depth + 1, writing=writing)
        n = max(1, int(node.get("minItems") or 1))
        return [item] * min(n, 3)
    if kind == "integer":
        lo = node.get("minimum", node.get("exclusiveMinimum", 0))
        lo = int(lo) + (1 if "exclusiveMinimum" in node and "minimum" not in node else 0)
        return max(lo, 1) if node.get("maximum", 2) >= 1 else lo
    if kind == "number":
        lo = float(node.get("minimum", 1))
        return max(lo, 1.0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(node, name, tag)


def _string(node: Mapping[str, Any], name: str, tag: str) -> str:
    fmt = str(node.get("format") or "").lower()
    low = name.lower()
    tag = tag or "cpgscan"
    if fmt == "email" or "email" in low:
        value = f"{tag}@example.com"
    elif fmt in ("uri", "url", "uri-reference", "iri") or low.endswith(("url", "uri", "link")):
        value = "https://example.com/"
    elif fmt == "date-time":
        value = "2024-01-01T00:00:00Z"
    elif fmt == "date":
        value = "2024-01-01"
    elif fmt == "uuid":
        value = "00000000-0000-4000-8000-000000000000"
    elif fmt == "ipv4":
        value = "192.0.2.1"
    elif _PASSWORD_RE.match(low) or fmt == "password":
        value = f"Cpg-{tag}-Pw9!"
    elif "phone" in low:
        value = "+14155550100"
    else:
        value = tag
    lo = int(node.get("minLength") or 0)
    hi = node.get("maxLength")
    if len(value) < lo:
        value = value + "x" * (lo - len(value))
    if isinstance(hi, int) and len(value) > hi:
        value = value[: max(hi, lo, 1)]
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        try:
            if not re.search(pattern, value):
                digits = "1" * max(lo, 1)
                if re.search(pattern, digits):
                    value = digits
        except re.error:
            pass
    return value


def body_schema(op: Operation) -> tuple[Any, Any] | None:
    """(schema node, root document) of the JSON request body, or None."""
    if op.request_body is None:
        return None
    for media, mt in op.request_body.content.items():
        if "json" in media and mt.schema is not None:
            return mt.schema.schema, mt.schema.schema
    return None


def response_schema(op: Operation, status: int) -> Any | None:
    """The JSON response schema document declared for ``status`` (None: none declared)."""
    resp = op.response_for(status)
    if resp is None:
        return None
    for media, mt in resp.content.items():
        if "json" in media and mt.schema is not None:
            return mt.schema
    return None


def declared_properties(op: Operation) -> dict[str, Any]:
    """Top-level properties of the JSON request body (resolved)."""
    found = body_schema(op)
    if found is None:
        return {}
    node, root = found
    props = resolve(node, root).get("properties") or {}
    return {k: resolve(v, root) for k, v in props.items()}


def path_params(op: Operation) -> list[Parameter]:
    return [p for p in op.parameters if p.location == "path"]


def _words(op: Operation) -> str:
    return " ".join([op.path, op.operation_id or "", " ".join(op.tags), op.summary or ""])


def is_login(op: Operation) -> bool:
    """A POST that takes a user name and a password and is named like a login."""
    props = declared_properties(op)
    has_pw = any(_PASSWORD_RE.match(k) for k in props)
    has_user = any(_USER_RE.match(k) for k in props)
    words = op.path + " " + (op.operation_id or "")
    return op.method == "POST" and has_pw and has_user and bool(_LOGIN_RE.search(words)) and not re.search(r"regist|sign-?up", words, re.I)


def is_register(op: Operation) -> bool:
    """A POST that creates an account (name and password) and is not a login."""
    props = declared_properties(op)
    has_pw = any(_PASSWORD_RE.match(k) for k in props)
    words = op.path + " " + (op.operation_id or "")
    return op.method == "POST" and has_pw and bool(_REGISTER_RE.search(words)) and not (
        _LOGIN_RE.search(words) and not re.search(r"regist|sign-?up", words, re.I))


def looks_admin(op: Operation) -> bool:
    """Path segment, tag or operationId says administrative (``/admin``, ``_debug``, tag ``Admin``)."""
    if ADMIN_RE.search(op.path):
        return True
    if any(ADMIN_RE.search("/" + t + "/") for t in op.tags):
        return True
    oid = op.operation_id or ""
    return bool(re.search(r"(admin|internal|debug|impersonat)", oid, re.I))


def user_field(names: Iterable[str]) -> str | None:
    """The property that names a user in a login/registration body."""
    for n in names:
        if re.match(r"^(user(name)?|login|handle)$", n, re.I):
            return n
    for n in names:
        if re.match(r"^e-?mail$", n, re.I):
            return n
    return None


def password_field(names: Iterable[str]) -> str | None:
    for n in names:
        if _PASSWORD_RE.match(n):
            return n
    return None


_TOKEN_KEY = re.compile(r"(token|session|jwt|access|auth)", re.I)


def logged_in(status: int, doc: Any, text: str) -> bool:
    """Whether a login answer granted a session: 2xx *and* a token in it (a JWT anywhere,
    or a long string under a token/session-like key). Some APIs answer failed logins with
    200 and an error message; those are not logins."""
    if not 200 <= status < 300:
        return False
    if re.search(r"eyJ[\w-]{8,}\.[\w-]{8,}\.", text):
        return True

    def walk(node: Any, depth: int = 0) -> bool:
        if depth > 4:
            return False
        if isinstance(node, dict):
            return any(
                (isinstance(v, str) and len(v) >= 16 and " " not in v and _TOKEN_KEY.search(str(k))) or walk(v, depth + 1)
                for k, v in node.items()
            )
        return False

    return walk(doc)


def destructive(op: Operation) -> bool:
    """DELETE/PUT/PATCH, or any operation named like a deletion, reset or database
    (re)creation -- even a GET such as ``/createdb`` (needs --unsafe-methods)."""
    if op.method in ("DELETE", "PUT", "PATCH"):
        return True
    return bool(DESTRUCTIVE_RE.search(" ".join([op.path, op.operation_id or ""])))
