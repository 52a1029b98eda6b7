"""``load_spec``: one call from a file to a compiled :class:`~cpragate.openapi.model.Spec`.

The loader reads the root document, checks the version, walks ``paths`` (following
``$ref`` only where OpenAPI allows a Reference Object, so ``x-`` extensions and
examples that point at Markdown or code files are never opened), merges path-level
parameters into each operation (the operation's own win by ``name`` + ``in``),
bundles and compiles every schema, and checks what the gateway relies on:

- each ``{name}`` in a path template has a ``required: true`` path parameter, and
  every path parameter appears in its template;
- ``operationId`` values are unique;
- security requirements name defined schemes.

Problems found in different operations are collected, so one run lists them all
(up to 20); the error raised is the first one's class with every message in its
detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cpragate.errors import SpecError, SpecVersionError
from cpragate.openapi.model import (
    CompiledSchema,
    MediaType,
    Operation,
    Parameter,
    RequestBody,
    Response,
    SecurityRequirement,
    SecurityScheme,
    Server,
    Spec,
)
from cpragate.openapi.params import ParameterValidator
from cpragate.openapi.paths import PathMatcher, template_parameters
from cpragate.openapi.refs import Location, Resolver
from cpragate.openapi.schema import Direction, SchemaBundler, for_direction
from cpragate.openapi.source import DEFAULT_MAX_BYTES, Document, load_document

__all__ = ["METHODS", "load_spec"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}
_LOCATIONS = frozenset(_DEFAULT_STYLE)
_MAX_REPORTED = 20


def _extensions(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k.startswith("x-")}


class _Builder:
    def __init__(self, document: Document, *, root: Path | None, max_bytes: int) -> None:
        self.document = document
        self.resolver = Resolver(document, root=root, max_bytes=max_bytes)
        version = str(document.data.get("openapi", ""))
        self.version = version
        self.bundler = SchemaBundler(self.resolver, openapi_30=version.startswith("3.0"))
        self.errors: list[SpecError] = []

    # ----------------------------------------------------------------- helpers

    def fail(self, at: Location, what: str, fix: str | None = None) -> SpecError:
        return SpecError(f"{at.where()}: {what}", fix=fix)

    def mapping(self, at: Location, value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(at, f"{what} must be a mapping, not {type(value).__name__}.")
        return value

    def deref(self, at: Location) -> tuple[Location, Any]:
        return self.resolver.follow(at)

    def compile(self, at: Location, direction: Direction) -> CompiledSchema:
        bundle = for_direction(self.bundler.bundle(at), direction)
        return CompiledSchema(bundle, where=at.where())

    # ----------------------------------------------------------------- parts

    def servers(self, at: Location, value: Any) -> tuple[Server, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(at, "servers must be a list.")
        out = []
        for i, raw in enumerate(value):
            raw = self.mapping(at.child(i), raw, "a server")
            if not isinstance(raw.get("url"), str):
                raise self.fail(at.child(i), "a server needs a url string.")
            out.append(Server(raw["url"], raw.get("description"), raw.get("variables") or {}))
        return tuple(out)

    def security(
        self, at: Location, value: Any, schemes: Mapping[str, SecurityScheme]
    ) -> tuple[SecurityRequirement, ...]:
        if not isinstance(value, list):
            raise self.fail(at, "security must be a list of requirement mappings.")
        out: list[SecurityRequirement] = []
        for i, requirement in enumerate(value):
            requirement = self.mapping(at.child(i), requirement, "a security requirement")
            for name, scopes in requirement.items():
                if name not in schemes:
                    raise self.fail(
                        at.child(i, name),
                        f"security requirement names {name!r}, which is not in components.securitySchemes.",
                        "Define the scheme under components.securitySchemes or fix the name.",
                    )
                if not isinstance(scopes, list):
                    raise self.fail(at.child(i, name), "scopes must be a list of strings.")
            out.append({name: tuple(str(s) for s in scopes) for name, scopes in requirement.items()})
        return tuple(out)

    def security_schemes(self, at: Location, value: Any) -> dict[str, SecurityScheme]:
        out: dict[str, SecurityScheme] = {}
        for name in self.mapping(at, value or {}, "securitySchemes"):
            here, raw = self.deref(at.child(name))
            raw = self.mapping(here, raw, "a security scheme")
            kind = raw.get("type")
            if kind not in ("apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"):
                raise self.fail(
                    here.child("type"),
                    f"security scheme type {kind!r} is unknown.",
                    "Use apiKey, http, mutualTLS, oauth2 or openIdConnect.",
                )
            out[name] = SecurityScheme(
                name=name,
                type=kind,
                scheme=raw.get("scheme"),
                bearer_format=raw.get("bearerFormat"),
                location=raw.get("in"),
                parameter_name=raw.get("name"),
                flows=raw.get("flows") or {},
                open_id_connect_url=raw.get("openIdConnectUrl"),
                description=raw.get("description"),
                extensions=_extensions(raw),
            )
        return out

    def parameter(self, at: Location) -> Parameter:
        here, raw = self.deref(at)
        raw = self.mapping(here, raw, "a parameter")
        name, location = raw.get("name"), raw.get("in")
        if not isinstance(name, str) or location not in _LOCATIONS:
            raise self.fail(here, "a parameter needs a name and in: path, query, header or cookie.")
        required = raw.get("required", False) is True
        if location == "path" and not required:
            raise self.fail(
                here,
                f"path parameter {name!r} must have required: true.",
                "Add required: true (path parameters are always required).",
            )
        schema: CompiledSchema | None = None
        content_type: str | None = None
        if "schema" in raw:
            schema = self.compile(here.child("schema"), "request")
        elif isinstance(raw.get("content"), dict) and raw["content"]:
            content_type = next(iter(raw["content"]))
            if "schema" in raw["content"][content_type]:
                schema = self.compile(here.child("content", content_type, "schema"), "request")
        style = raw.get("style", _DEFAULT_STYLE[location])
        return Parameter(
            name=name,
            location=location,
            required=required,
            schema=schema,
            style=style,
            explode=raw.get("explode", style == "form") is True,
            deprecated=raw.get("deprecated", False) is True,
            allow_empty_value=raw.get("allowEmptyValue", False) is True,
            content_type=content_type,
            extensions=_extensions(raw),
        )

    def parameters(self, at: Location, value: Any) -> list[Parameter]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(at, "parameters must be a list.")
        return [self.parameter(at.child(i)) for i in range(len(value))]

    def content(self, at: Location, value: Any, direction: Direction) -> dict[str, MediaType]:
        out: dict[str, MediaType] = {}
        for media, raw in self.mapping(at, value or {}, "content").items():
            raw = self.mapping(at.child(media), raw, "a media type")
            key = media.split(";", 1)[0].strip().lower()
            schema = self.compile(at.child(media, "schema"), direction) if "schema" in raw else None
            out[key] = MediaType(key, schema)
        return out

    def request_body(self, at: Location) -> RequestBody:
        here, raw = self.deref(at)
        raw = self.mapping(here, raw, "requestBody")
        return RequestBody(
            required=raw.get("required", False) is True,
            content=self.content(here.child("content"), raw.get("content"), "request"),
        )

    def responses(self, at: Location, value: Any) -> dict[str, Response]:
        out: dict[str, Response] = {}
        for status, _ in self.mapping(at, value or {}, "responses").items():
            key = status.upper() if status.lower() != "default" else "default"
            if not (
                key == "default"
                or (len(key) == 3 and key[0] in "12345" and (key[1:].isdigit() or key[1:] == "XX"))
            ):
                if status.startswith("x-"):
                    continue
                raise self.fail(
                    at.child(status), f"{status!r} is not an HTTP status, a range like 4XX, or default."
                )
            here, raw = self.deref(at.child(status))
            raw = self.mapping(here, raw, "a response")
            headers: dict[str, Parameter] = {}
            for name in raw.get("headers") or {}:
                header_at, header = self.deref(here.child("headers", name))
                header = self.mapping(header_at, header, "a header")
                schema = self.compile(header_at.child("schema"), "response") if "schema" in header else None
                headers[name.lower()] = Parameter(
                    name=name,
                    location="header",
                    required=header.get("required", False) is True,
                    schema=schema,
                    style="simple",
                    explode=header.get("explode", False) is True,
                )
            out[key] = Response(
                status=key,
                description=raw.get("description"),
                content=self.content(here.child("content"), raw.get("content"), "response"),
                headers=headers,
            )
        return out

    def operation(
        self,
        template: str,
        method: str,
        at: Location,
        shared: list[Parameter],
        spec_security: tuple[SecurityRequirement, ...],
        schemes: Mapping[str, SecurityScheme],
        servers: tuple[Server, ...],
    ) -> Operation:
        raw = self.mapping(at, at.value(), "an operation")
        own = self.parameters(at.child("parameters"), raw.get("parameters"))
        merged = {(p.name, p.location): p for p in shared}
        merged.update({(p.name, p.location): p for p in own})
        parameters = tuple(merged.values())
        declared = {p.name for p in parameters if p.location == "path"}
        needed = set(template_parameters(template))
        if needed - declared:
            missing = ", ".join(sorted(needed - declared))
            raise self.fail(
                at,
                f"{method.upper()} {template} has no path parameter for {{{missing}}}.",
                "Declare each template variable as an in: path parameter.",
            )
        if declared - needed:
            extra = ", ".join(sorted(declared - needed))
            raise self.fail(
                at,
                f"path parameter(s) {extra} do not appear in the template {template}.",
                "Remove the parameter or add {name} to the path.",
            )
        security = spec_security
        if "security" in raw:
            security = self.security(at.child("security"), raw["security"], schemes)
        body = self.request_body(at.child("requestBody")) if "requestBody" in raw else None
        tags = raw.get("tags") or []
        return Operation(
            method=method.upper(),
            path=template,
            operation_id=raw.get("operationId"),
            summary=raw.get("summary"),
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            deprecated=raw.get("deprecated", False) is True,
            security=security,
            parameters=parameters,
            request_body=body,
            responses=self.responses(at.child("responses"), raw.get("responses")),
            servers=self.servers(at.child("servers"), raw["servers"]) if "servers" in raw else servers,
            extensions=_extensions(raw),
            params=ParameterValidator(parameters),
            location=at.where(),
        )

    def build(self) -> Spec:
        data = self.document.data
        root = Location(self.document, "")
        info = data.get("info") if isinstance(data.get("info"), dict) else {}
        components = data.get("components") if isinstance(data.get("components"), dict) else {}
        schemes = self.security_schemes(
            root.child("components", "securitySchemes"), components.get("securitySchemes")
        )
        spec_security = self.security(root.child("security"), data.get("security", []), schemes)
        servers = self.servers(root.child("servers"), data.get("servers"))
        operations: list[Operation] = []
        paths = data.get("paths") or {}
        for template in self.mapping(root.child("paths"), paths, "paths"):
            if template.startswith("x-"):
                continue
            if not template.startswith("/"):
                self.errors.append(
                    self.fail(root.child("paths", template), f"path {template!r} must start with '/'.")
                )
                continue
            try:
                item_at, item = self.deref(root.child("paths", template))
                item = self.mapping(item_at, item, "a path item")
                shared = self.parameters(item_at.child("parameters"), item.get("parameters"))
                item_servers = (
                    self.servers(item_at.child("servers"), item["servers"]) if "servers" in item else servers
                )
            except SpecError as exc:
                self.errors.append(exc)
                continue
            for method in METHODS:
                if method not in item:
                    continue
                try:
                    operations.append(
                        self.operation(
                            template,
                            method,
                            item_at.child(method),
                            shared,
                            spec_security,
                            schemes,
                            item_servers,
                        )
                    )
                except SpecError as exc:
                    self.errors.append(exc)
                if len(self.errors) >= _MAX_REPORTED:
                    break
        by_id: dict[str, Operation] = {}
        for op in operations:
            if op.operation_id is None:
                continue
            if op.operation_id in by_id:
                self.errors.append(
                    SpecError(
                        f"{op.location}: operationId {op.operation_id!r} is also used by "
                        f"{by_id[op.operation_id].method} {by_id[op.operation_id].path}.",
                        fix="Give every operation a unique operationId.",
                    )
                )
            by_id[op.operation_id] = op
        if self.errors:
            first = self.errors[0]
            if len(self.errors) == 1:
                raise first
            detail = f"{len(self.errors)} problems:\n" + "\n".join(f"- {e.detail}" for e in self.errors)
            raise type(first)(detail, fix=first.fix_hint)
        try:
            matcher = PathMatcher(op.path for op in operations)
        except SpecError as exc:
            raise SpecError(f"{self.document.path}: {exc.detail}", fix=exc.fix_hint) from None
        return Spec(
            path=self.document.path,
            openapi=self.version,
            title=str(info.get("title", "")),
            version=str(info.get("version", "")),
            servers=servers,
            operations=tuple(operations),
            security_schemes=schemes,
            security=spec_security,
            extensions=_extensions(data),
            files=tuple(d.path for d in self.resolver.documents),
            matcher=matcher,
            _by_route={(op.method, op.path): op for op in operations},
            _by_id=by_id,
        )


def load_spec(
    path: str | Path, *, root: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Spec:
    """Load, check and compile the OpenAPI 3.0/3.1 document at ``path``.

    :param root: when given, ``$ref`` may only reach files below this directory.
    :param max_bytes: the largest file read (each file of a split spec).
    :raises SpecError: (or a subclass: ``SpecRefError``, ``SpecVersionError``,
        ``SpecRemoteRefError``, ``SpecSchemaError``) naming file, line, JSON pointer,
        what is wrong and the fix.
    """
    document = load_document(Path(path), max_bytes=max_bytes)
    data = document.data
    if not isinstance(data, dict):
        raise SpecError(f"{document.path}: the document must be a mapping with an 'openapi' key.")
    version = data.get("openapi")
    if version is None and "swagger" in data:
        raise SpecVersionError(f"{document.path}: this is a Swagger {data['swagger']} document.")
    if not isinstance(version, str) or not version.startswith(("3.0.", "3.1.")):
        raise SpecVersionError(f"{document.where('/openapi')}: openapi: {version!r} is not 3.0.x or 3.1.x.")
    return _Builder(document, root=Path(root) if root is not None else None, max_bytes=max_bytes).build()
