"""The state one scan shares between its checks: the spec, the identities, the objects
found so far, the recorded exchanges, and the findings.

Rules:

* a check reads and adds to the context; it never sends anything itself (it yields);
* objects are remembered with the identity that saw or created them, and whether they
  belong to it (created by it, owner field equal to one of its subject values, or listed
  for it and not for the others) -- BOLA tests only objects that belong to someone;
* only objects the scanner created may be updated or deleted, and only with
  ``--unsafe-methods``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from cpragate.errors import ScanIdentityError
from cpragate.openapi import Operation, Spec
from cpragate.pii import Engine
from cpragate.scanner import specutil
from cpragate.scanner.model import Evidence, Finding, HttpRequest, HttpResponse, Severity
from cpragate.scanner.redact import Redactor

__all__ = ["Credential", "Identity", "ObjectRef", "ScanContext", "ScanOptions", "decode_jwt", "parse_identity"]

_OWNER_KEYS = re.compile(
    r"^(owner|owner_?id|user|user_?id|username|author|author_?id|created_?by|email|account_?id|customer_?id|uid|sub)$", re.I
)
_SUBJECT_CLAIMS = ("sub", "username", "user", "user_id", "uid", "id", "email", "preferred_username", "name", "login")
_ME_RE = re.compile(r"/(me|self|profile|whoami|current(_?user)?|my|account|dashboard|userinfo)/?$", re.I)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ID_QUERY = re.compile(r"(^|_)id$|[a-z]Id$|^id_")


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, claims) of a compact JWS, unverified; None when ``token`` is not one."""
    parts = token.split(".")
    if len(parts) != 3 or not token.startswith("eyJ"):
        return None
    try:
        header = orjson.loads(_b64d(parts[0]))
        claims = orjson.loads(_b64d(parts[1]))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass(frozen=True)
class Credential:
    """Where a credential goes: a header (``Authorization: Bearer x``), a query
    parameter or a cookie."""

    location: str
    """``header``, ``query`` or ``cookie``."""
    name: str
    value: str
    """The full value sent (``Bearer eyJ...``); ``token`` is the secret part."""
    token: str

    def apply(self, req: HttpRequest) -> HttpRequest:
        if self.location == "query":
            req.query = [*req.query, (self.name, self.value)]
        elif self.location == "cookie":
            req.headers["Cookie"] = f"{self.name}={self.value}"
        else:
            req.headers[self.name] = self.value
        return req

    def with_token(self, token: str) -> Credential:
        """The same placement with another token (forged JWTs, garbage)."""
        return Credential(self.location, self.name, self.value.replace(self.token, token), token)


@dataclass
class Identity:
    """A caller the scan acts as (``--auth NAME=...``)."""

    name: str
    credential: Credential
    claims: dict[str, Any] = field(default_factory=dict)
    jwt_header: dict[str, Any] = field(default_factory=dict)
    subjects: set[str] = field(default_factory=set)
    """Values that name this caller (JWT ``sub``/``email``..., learned from ``/me``-like answers)."""

    @property
    def is_jwt(self) -> bool:
        return bool(self.jwt_header)


def parse_identity(spec: Spec, arg: str, read: Callable[[str], str]) -> Identity:
    """``NAME=TOKEN``, ``NAME=@FILE`` or ``NAME=Header-Name: value``.

    The token's placement comes from the spec's security schemes (bearer, basic, apiKey
    in header, query or cookie), else ``Authorization: Bearer``.
    """
    name, sep, value = arg.partition("=")
    name = name.strip()
    if not sep or not name or not re.match(r"^[A-Za-z0-9_.\-]+$", name):
        raise ScanIdentityError(f"--auth {name or '?'}=...: expected NAME=TOKEN, NAME=@FILE or NAME='Header: value'.")
    if value.startswith("@"):
        try:
            value = read(value[1:])
        except OSError as exc:
            raise ScanIdentityError(f"--auth {name}: cannot read {value[1:]}: {exc.strerror}.") from None
    value = value.strip()
    if not value:
        raise ScanIdentityError(f"--auth {name}: the credential is empty.")
    cred = _placement(spec, value)
    ident = Identity(name, cred)
    decoded = decode_jwt(cred.token)
    if decoded is not None:
        ident.jwt_header, ident.claims = decoded
        for claim in _SUBJECT_CLAIMS:
            v = ident.claims.get(claim)
            if isinstance(v, str | int) and not isinstance(v, bool) and str(v):
                ident.subjects.add(str(v))
    return ident


def _placement(spec: Spec, value: str) -> Credential:
    m = re.match(r"^([A-Za-z0-9\-_]+):\s*(.+)$", value)
    if m and not value.startswith("eyJ") and m.group(1).lower() not in ("http", "https"):
        header, full = m.group(1), m.group(2)
        token = full.split(" ", 1)[1] if full.lower().startswith(("bearer ", "basic ", "token ")) else full
        if header.lower() == "cookie" and "=" in full:
            cname, _, cval = full.partition("=")
            return Credential("cookie", cname.strip(), cval.strip(), cval.strip())
        return Credential("header", header, full, token)
    for scheme in _used_schemes(spec):
        if scheme.type == "apiKey" and scheme.parameter_name and scheme.location in ("header", "query", "cookie"):
            return Credential(scheme.location, scheme.parameter_name, value, value)
        if scheme.type == "http" and (scheme.scheme or "").lower() == "basic":
            enc = base64.b64encode(value.encode()).decode() if ":" in value else value
            return Credential("header", "Authorization", f"Basic {enc}", enc)
        if scheme.type in ("http", "oauth2", "openIdConnect"):
            break
    return Credential("header", "Authorization", f"Bearer {value}", value)


def _used_schemes(spec: Spec) -> Iterator[Any]:
    seen: set[str] = set()
    reqs = list(spec.security) + [r for op in spec.operations for r in op.security]
    for req in reqs:
        for name in req:
            if name not in seen and name in spec.security_schemes:
                seen.add(name)
                yield spec.security_schemes[name]


@dataclass
class ObjectRef:
    """An object seen in an answer: its scalar fields, who saw it, whether it is theirs."""

    identity: str
    collection: str
    """The path template it came from (a list, a create, an item)."""
    values: dict[str, Any]
    owned: bool
    created: bool = False
    item_path: str | None = None
    """The concrete path the object lives at, when known (``/notes/17``)."""


@dataclass
class ScanOptions:
    """What a scan may do; the CLI fills it from its flags."""

    target: str = "http://127.0.0.1"
    """The target's base URL (scheme, host, port, optional base path)."""
    unsafe_methods: bool = False
    burst: int = 40
    max_ops_per_check: int = 12
    canary_url: str | None = None
    admins: frozenset[str] = field(default_factory=frozenset)
    """Identities that are administrators (BFLA does not call admin operations as them)."""


@dataclass
class Recorded:
    op: Operation
    identity: str | None
    request: HttpRequest
    response: HttpResponse


class ScanContext:
    """Shared by the checks of one scan (see the module docstring)."""

    def __init__(self, spec: Spec, identities: list[Identity], *, base_path: str = "", options: ScanOptions | None = None,
                 engine: Engine | None = None) -> None:  # fmt: skip
        self.spec = spec
        self.identities = identities
        self.base_path = base_path.rstrip("/")
        self.options = options or ScanOptions()
        self.engine = engine or Engine()
        self.redactor = Redactor([i.credential.token for i in identities], self.engine)
        self.findings: list[Finding] = []
        self.objects: list[ObjectRef] = []
        self.recorded: list[Recorded] = []
        self.notes: list[str] = []
        """What a check could not test and why (shown in the report)."""
        self.protected_ops: set[tuple[str, str]] = set()
        """Operations that refused an anonymous caller (learned by the auth check)."""

    # ------------------------------------------------------------------ identities
    def identity(self, name: str) -> Identity:
        return next(i for i in self.identities if i.name == name)

    def pairs(self) -> Iterator[tuple[Identity, Identity]]:
        """(owner, other) for every ordered pair of distinct identities."""
        for a in self.identities:
            for b in self.identities:
                if a is not b:
                    yield a, b

    # ------------------------------------------------------------------ operations
    def allowed(self, op: Operation) -> bool:
        """Whether the scan may call ``op`` at all (destructive ones need --unsafe-methods)."""
        return self.options.unsafe_methods or not specutil.destructive(op)

    def declares_auth(self, op: Operation) -> bool:
        """The spec says ``op`` needs a credential (some requirement, none of them empty)."""
        return bool(op.security) and all(len(r) > 0 for r in op.security)

    def needs_auth(self, op: Operation) -> bool:
        """Declared, or (for specs that declare no security at all) learned: anonymous was refused."""
        if self.declares_auth(op):
            return True
        return (op.method, op.path) in self.protected_ops

    def url_path(self, path: str) -> str:
        return self.base_path + path

    def request(self, op: Operation, values: dict[str, Any] | None = None, *, identity: Identity | None = None,
                json: Any = None, query: list[tuple[str, str]] | None = None) -> HttpRequest | None:  # fmt: skip
        """A request for ``op`` with path parameters from ``values`` (None when one is missing)."""
        path = self.fill(op, values or {})
        if path is None:
            return None
        req = HttpRequest(op.method, self.url_path(path), query=list(query or self.required_query(op, values or {})))
        if json is not None:
            req.json = json
            req.headers["Content-Type"] = "application/json"
        elif op.method in ("POST", "PUT", "PATCH") and specutil.body_schema(op) is not None:
            node, root = specutil.body_schema(op)  # type: ignore[misc]
            req.json = specutil.example(node, root, tag=specutil.marker())
            req.headers["Content-Type"] = "application/json"
        req.headers.setdefault("Accept", "application/json")
        if identity is not None:
            identity.credential.apply(req)
            req.identity = identity.name
        return req

    def fill(self, op: Operation, values: dict[str, Any]) -> str | None:
        path = op.path
        for p in specutil.path_params(op):
            v = match_value(p.name, values, _format(p))
            if v is None:
                return None
            path = path.replace("{" + p.name + "}", _quote(str(v)))
        return path

    def required_query(self, op: Operation, values: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for p in op.parameters:
            if p.location == "query" and p.required:
                v = match_value(p.name, values, _format(p))
                if v is None and p.schema is not None:
                    v = specutil.example(p.schema.schema, p.schema.schema, name=p.name)
                out.append((p.name, "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)))
        return out

    def item_ops(self, method: str = "GET") -> list[Operation]:
        """Operations on one object: a path parameter, or a required id-like query parameter
        (``/report?report_id=7``); destructive-looking ones only with --unsafe-methods."""
        return [
            op for op in self.spec.operations
            if op.method == method and self.allowed(op) and (
                specutil.path_params(op) or any(p.location == "query" and p.required and _ID_QUERY.search(p.name) for p in op.parameters))
        ]  # fmt: skip

    def collection_ops(self) -> list[Operation]:
        """GETs with no path parameter (lists, ``/me``, searches: required query parameters get example values)."""
        return [
            op for op in self.spec.operations
            if op.method == "GET" and self.allowed(op) and not specutil.path_params(op)
            and not any(p.required for p in op.parameters if p.location in ("header", "cookie"))
        ]  # fmt: skip

    def spec_location(self, op: Operation) -> str:
        return op.location.split(" (at", 1)[0]

    # ------------------------------------------------------------------ objects
    def remember(self, identity: Identity | None, op: Operation, doc: Any, *, created: bool = False, mine: bool = False,
                 item_path: str | None = None) -> list[ObjectRef]:  # fmt: skip
        """Remember the objects in an answer (a list, a wrapper with a list, or one object)."""
        if identity is None:
            return []
        found: list[ObjectRef] = []
        me = bool(_ME_RE.search(op.path))
        for obj in _objects(doc):
            values = {k: v for k, v in obj.items() if isinstance(v, str | int) and not isinstance(v, bool)}
            if not values:
                continue
            if me:
                for k in ("id", "username", "email", "user_id", "uid", "name", "login"):
                    if k in values:
                        identity.subjects.add(str(values[k]))
            owned = created or mine or me or self._owner_match(identity, obj)
            ref = ObjectRef(identity.name, op.path, values, owned, created, item_path)
            self.objects.append(ref)
            found.append(ref)
            if len(self.objects) > 2000:
                del self.objects[:500]
        return found

    def _owner_match(self, identity: Identity, obj: dict[str, Any]) -> bool:
        for k, v in obj.items():
            if _OWNER_KEYS.match(k) and isinstance(v, str | int) and not isinstance(v, bool) and str(v) in identity.subjects:
                return True
        return False

    def owned_by(self, identity: Identity) -> list[ObjectRef]:
        """Objects that belong to ``identity``: owned, or listed for it and for no other identity."""
        others = [o for o in self.objects if o.identity != identity.name]
        seen_by_others = {_sig(o.values) for o in others}
        out = []
        for o in self.objects:
            if o.identity != identity.name:
                continue
            if o.owned or (len(self.identities) > 1 and _sig(o.values) not in seen_by_others):
                out.append(o)
        return out

    def seen_by(self, identity: Identity, ref: ObjectRef) -> bool:
        """Whether ``identity`` was itself shown the object (then reading it is no BOLA)."""
        sig = _sig(ref.values)
        return any(o.identity == identity.name and _sig(o.values) == sig for o in self.objects)

    def subject_values(self, identity: Identity) -> dict[str, Any]:
        """Parameter values that name ``identity`` itself (for ``/users/{username}``)."""
        out: dict[str, Any] = {}
        for claim in _SUBJECT_CLAIMS:
            v = identity.claims.get(claim)
            if isinstance(v, str | int) and not isinstance(v, bool):
                out.setdefault(claim, v)
        if "sub" in out:
            out.setdefault("username", out["sub"])
            out.setdefault("user_id", out["sub"])
        return out

    def sample(self) -> Recorded | None:
        """A read that worked: preferably one that needs a credential (for CORS, the burst...)."""
        gets = [r for r in self.recorded if r.op.method == "GET"]
        found = next((r for r in gets if r.identity is not None and self.needs_auth(r.op)), None)
        found = found or next((r for r in gets if r.identity is not None), None)
        return found or next(iter(gets), None)

    # ------------------------------------------------------------------ findings
    def record(self, op: Operation, req: HttpRequest, resp: HttpResponse) -> None:
        if resp.ok and len(self.recorded) < 400:
            self.recorded.append(Recorded(op, req.identity, req, resp))

    def report(self, check: str, owasp: str, cwe: int, severity: Severity, title: str, op: Operation | None, detail: str,
               fix: str, evidence: Iterable[tuple[HttpRequest, HttpResponse] | tuple[HttpRequest, HttpResponse, str]] = (),
               key: str = "", policy: dict[str, Any] | None = None, operation: str | None = None,
               observed: Iterable[Evidence] = ()) -> Finding:  # fmt: skip
        """Add a finding (once per fingerprint). ``evidence`` are exchanges (redacted here);
        ``observed`` is evidence that is not an HTTP exchange (a handshake, an offline crack)."""
        ev = [self.redactor.evidence(*e) for e in list(evidence)[:3]] + [
            Evidence(self.redactor.secrets_only(o.request), self.redactor.secrets_only(o.response), o.note) for o in observed
        ]
        f = Finding(
            check=check, owasp=owasp, cwe=cwe, severity=severity, title=title,
            operation=operation or (f"{op.method} {op.path}" if op else "* /"),
            detail=self.redactor.secrets_only(detail), fix=fix, evidence=ev, key=key,
            spec_location=self.spec_location(op) if op else None, policy=dict(policy or {}),
        )  # fmt: skip
        if op is not None:
            f.policy.setdefault("operation_id", op.operation_id)
            f.policy.setdefault("path", op.path)
            f.policy.setdefault("method", op.method)
        if not any(x.fingerprint == f.fingerprint for x in self.findings):
            self.findings.append(f)
        return f


def _format(p: Any) -> str:
    schema = p.schema.schema if p.schema is not None else {}
    if not isinstance(schema, dict):
        return ""
    sample = schema.get("example", schema.get("default"))
    if isinstance(sample, str) and _UUID.match(sample):
        return "uuid"
    return str(schema.get("format") or "")


def match_value(name: str, values: dict[str, Any], fmt: str = "") -> Any:
    """The value for parameter ``name`` among an object's fields.

    ``name`` itself, then without an ``_id``/``Id`` suffix (``id``), then the part after
    the first word (``book_title`` -> ``title``), then ``id``.
    """
    if fmt == "uuid":
        found = match_value(name, {k: v for k, v in values.items() if isinstance(v, str) and _UUID.match(v)})
        if found is not None:
            return found
        uuids = [v for k, v in values.items() if isinstance(v, str) and _UUID.match(v) and k.lower() in ("uuid", "guid", "id")]
        if uuids:
            return uuids[0]
    if name in values:
        return values[name]
    low = {k.lower(): v for k, v in values.items()}
    n = name.lower()
    if n in low:
        return low[n]
    cands = []
    base = re.sub(r"(_id|id)$", "", n).rstrip("_")
    if base != n:
        cands += ["id", f"{base}_id", f"{base}id", "uuid"]
    if "_" in n:
        cands.append(n.split("_", 1)[1])
    if n in ("username", "user", "login"):
        cands += ["username", "user", "login", "name"]
    if n in ("name", "title", "slug"):
        cands += ["name", "title", "slug"]
    if n == "id":
        cands += ["uuid", "_id"]
    if base != n:
        cands += ["guid", f"{base}_uuid"]
    for c in cands:
        if c in low:
            return low[c]
    return None


def _objects(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if lists:
            for lst in lists:
                yield from lst[:50]
        else:
            yield doc
    elif isinstance(doc, list):
        for x in doc[:50]:
            if isinstance(x, dict):
                yield x


def _sig(values: dict[str, Any]) -> str:
    key = {k: values[k] for k in sorted(values) if re.search(r"(^|_)(id|uuid|username|email|name|title|slug)$", k, re.I)}
    return orjson.dumps(key or values, option=orjson.OPT_SORT_KEYS).decode()


def _quote(v: str) -> str:
    from urllib.parse import quote

    return quote(v, safe="")
