"""Every error a user of cpragate can hit, with a stable code, its cause and its fix.

The tree::

    CpraGateError                       (CPG-000)  base; never raised itself
    ├── ConfigError                     (CPG-CFG-*) the YAML config is wrong; names file, key path, line
    ├── SpecError                       (CPG-OAS-*) an OpenAPI document is broken or unsupported
    ├── PiiError                        (CPG-PII-*) PII engine: bad recognizer, operator or input
    ├── TlsError                        (CPG-TLS-*) certificates, keys and CA bundles
    ├── IdentityError                   (CPG-AUTH-01x) consumers and API keys in the store (CLI)
    ├── StorageError                    (CPG-STO-*) a storage backend failed (mapped at its boundary)
    ├── AuditError                      (CPG-AUD-*) the audit trail: keys, spool, sink
    ├── ScanError                       (CPG-SCAN-*) ``cpragate scan``: arguments, identities, baseline, target
    ├── AdminError                      (CPG-ADM-*) the admin listener, its keys, inventory export
    └── GatewayError                    (CPG-GW-*)  refusals the data plane answers to clients
        ├── Unauthenticated, Forbidden  (CPG-AUTH-*) authn/authz refusals; RateLimited (CPG-RATE-*)
        ├── BadRequest, NotRouted, ...  each carries ``status`` (the client-facing status hint,
        └── UpstreamError ...           like h11's ``error_status_hint``)

Two audiences (STYLE.md §7.10): operators read ``str(err)`` — code, cause, detail, fix;
API clients only ever see the ``problem`` body built from ``code`` and ``title``, never
``detail`` (which may name internals) and never personal data.

Every concrete class declares ``code``, ``title`` (one sentence naming the cause) and
``fix`` (one sentence naming the remedy). ``__init_subclass__`` registers codes and refuses
duplicates, so ``cpragate errors CODE`` and docs/errors.md come from this module alone.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AdminAuthError",
    "AdminBodyError",
    "AdminConfigError",
    "AdminError",
    "AuditError",
    "AuditKeyError",
    "AuditSinkError",
    "AuditSpoolError",
    "AuditSpoolFull",
    "AuditUnavailable",
    "AuthUnavailable",
    "BadRequest",
    "BodyTooLarge",
    "ConfigError",
    "ConsumerBlocked",
    "CpraGateError",
    "DataBudgetExhausted",
    "DetokenizeLimited",
    "DetokenizeUnavailable",
    "Forbidden",
    "GatewayError",
    "HeaderTooLarge",
    "IdentityError",
    "MethodNotAllowed",
    "NotRouted",
    "ObjectForbidden",
    "ObjectNotFound",
    "PiiError",
    "PiiNotReversible",
    "RateLimitUnavailable",
    "RateLimited",
    "ScanBaselineError",
    "ScanError",
    "ScanIdentityError",
    "ScanTargetError",
    "SharedStateRequired",
    "SpecError",
    "StorageError",
    "TlsError",
    "Unauthenticated",
    "UninspectableBody",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "all_errors",
    "lookup",
]

_REGISTRY: dict[str, type[CpraGateError]] = {}


class CpraGateError(Exception):
    """Base of every cpragate error; carries a stable code, a cause and a fix."""

    code: ClassVar[str] = "CPG-000"
    title: ClassVar[str] = "An internal error occurred."
    fix: ClassVar[str] = "Report this as a bug with the request id."
    status: ClassVar[int] = 500

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if code is None:
            return
        if code in _REGISTRY and _REGISTRY[code] is not cls:
            raise TypeError(f"error code {code} used by {_REGISTRY[code].__name__} and {cls.__name__}")
        _REGISTRY[code] = cls

    def __init__(self, detail: str = "", *, fix: str | None = None) -> None:
        self.detail = detail
        self.fix_hint = fix or type(self).fix
        super().__init__(detail or type(self).title)

    def __str__(self) -> str:
        cause = self.detail or self.title
        sep = "\n" if "\n" in cause else " "
        return f"{self.code}: {cause}{sep}Fix: {self.fix_hint}"


def lookup(code: str) -> type[CpraGateError] | None:
    """The error class registered under ``code`` (case-insensitive), or None."""
    return _REGISTRY.get(code.upper())


def all_errors() -> list[type[CpraGateError]]:
    """Every registered error class, sorted by code."""
    return [_REGISTRY[c] for c in sorted(_REGISTRY)]


# --------------------------------------------------------------------------- config


class ConfigError(CpraGateError):
    """The configuration file is invalid; ``detail`` lists every problem with its path."""

    code = "CPG-CFG-001"
    title = "The configuration is invalid."
    fix = "Correct each listed key (file:line, key path) and run `cpragate config check FILE`."
    status = 500


class ConfigFileError(ConfigError):
    code = "CPG-CFG-002"
    title = "The configuration file cannot be read or is not valid YAML."
    fix = "Check the path and permissions, and the YAML syntax at the reported line."


class ConfigSecretError(ConfigError):
    code = "CPG-CFG-003"
    title = "A secret reference (${ENV} or file:) cannot be resolved."
    fix = "Set the environment variable or create the referenced file, readable by the gateway."


class ConfigReloadRefused(ConfigError):
    code = "CPG-CFG-004"
    title = "A reloaded configuration was refused; the previous one keeps serving."
    fix = "Fix the new file (see the listed errors), check it with `cpragate config check`, then send SIGHUP again."


# --------------------------------------------------------------------------- openapi


class SpecError(CpraGateError):
    """An OpenAPI document cannot be loaded; ``detail`` names file and JSON pointer."""

    code = "CPG-OAS-001"
    title = "The OpenAPI document is invalid."
    fix = "Correct the document at the reported file and JSON pointer."


class SpecRefError(SpecError):
    code = "CPG-OAS-002"
    title = "An OpenAPI $ref cannot be resolved."
    fix = "Point the $ref at an existing file and JSON pointer (relative to the referring file)."


class SpecVersionError(SpecError):
    code = "CPG-OAS-003"
    title = "The OpenAPI version is not supported."
    fix = "Use an OpenAPI 3.0.x or 3.1.x document (convert Swagger 2.0 first)."


class SpecRemoteRefError(SpecRefError):
    code = "CPG-OAS-004"
    title = "An OpenAPI $ref points at a remote URL, which is not fetched."
    fix = "Download the referenced file next to the spec and point the $ref at its relative path."


class SpecSchemaError(SpecError):
    code = "CPG-OAS-005"
    title = "A schema in the OpenAPI document is not a valid JSON Schema."
    fix = "Correct the schema keyword at the reported JSON pointer (see the JSON Schema spec for its form)."


# --------------------------------------------------------------------------- pii


class PiiError(CpraGateError):
    """The PII engine was configured or called wrongly."""

    code = "CPG-PII-001"
    title = "A PII recognizer or operator is misconfigured."
    fix = "Correct the recognizer/operator settings named in the message."


class PiiInputError(PiiError):
    code = "CPG-PII-002"
    title = "The input cannot be parsed as JSON, NDJSON or text."
    fix = "Pass a UTF-8 JSON, NDJSON or text file, or choose the format with --format."


class PiiStreamLimitError(PiiError):
    code = "CPG-PII-003"
    title = "One element of a streamed JSON array exceeds the inspection limit."
    fix = "Raise the route's `max_element_bytes`, or page the API so elements are smaller."
    status = 413


class PiiBlocked(PiiError):
    code = "CPG-PII-004"
    title = "The body was blocked because it contains personal information the policy blocks."
    fix = "Ask for a purpose or scope that allows this data, or change the route's `pii` action rules."
    status = 403


class PiiTokenError(PiiError):
    code = "CPG-PII-005"
    title = "A PII token cannot be detokenized."
    fix = "Pass an unaltered reversible token made with the currently configured `tokenize.key`."
    status = 400


class PiiTokenAltered(PiiTokenError):
    """A well-formed reversible token that does not authenticate: altered, truncated or made
    with another key. Same code as :class:`PiiTokenError` (not registered on its own); a
    subclass so callers tell the cases apart without reading the message."""


class PiiNotReversible(PiiError):
    code = "CPG-PII-011"
    title = "PII tokens are keyed hashes (HMAC) and cannot be turned back into values."
    fix = (
        "Set `filters.pii.engine.tokenize.reversible: true` (AES-SIV) to detokenize through the admin API; "
        "only tokens made after the change can be reversed."
    )
    status = 409


# --------------------------------------------------------------------------- tls


class TlsError(CpraGateError):
    code = "CPG-TLS-001"
    title = "A TLS certificate, key or CA bundle cannot be loaded."
    fix = "Check the PEM file paths and that the key matches the certificate."


# --------------------------------------------------------------------------- storage


class StorageError(CpraGateError):
    """A storage backend failed; backends map their driver errors to this."""

    code = "CPG-STO-001"
    title = "The storage backend is unavailable or failed."
    fix = "Check that the store (SQLite file, Redis, PostgreSQL) is reachable and writable."
    status = 503


# --------------------------------------------------------------------------- audit


class AuditError(CpraGateError):
    """The audit trail cannot be written or read."""

    code = "CPG-AUD-001"
    title = "The audit trail cannot be written or read."
    fix = "See the message; check the audit spool folder, the sink URL and the audit keys."
    status = 503


class AuditKeyError(AuditError):
    code = "CPG-AUD-002"
    title = "An audit key (checkpoint signing key or pseudonym key) cannot be loaded."
    fix = "Point `filters.audit.signing_key`/`pseudonym_key` at a readable key (file:/path or ${ENV}) in a supported form (docs/audit.md)."


class AuditSpoolError(AuditError):
    code = "CPG-AUD-003"
    title = "The local audit spool cannot be opened or written."
    fix = "Make `filters.audit.spool.dir` writable by the gateway, with free disk space; at most 64 processes share one spool folder."


class AuditSinkError(AuditError):
    code = "CPG-AUD-004"
    title = "The audit sink (SQLite or PostgreSQL) is unreachable or failed; events wait in the spool."
    fix = "Check the database at `filters.audit.sink`; the writer retries and drains the spool when it is back."


# --------------------------------------------------------------------------- data plane


class GatewayError(CpraGateError):
    """A refusal the gateway answers to the API client as application/problem+json."""

    code = "CPG-GW-000"
    title = "The gateway could not handle the request."
    fix = "See the gateway log for the request id."
    status = 500


class BadRequest(GatewayError):
    code = "CPG-HTTP-001"
    title = "The request is not valid HTTP/1.1."
    fix = "Send a well-formed HTTP/1.1 request (one framing header, valid names and values)."
    status = 400


class HeaderTooLarge(GatewayError):
    code = "CPG-HTTP-002"
    title = "The request line or headers exceed the configured limits."
    fix = "Send fewer or smaller headers, or raise `limits.max_header_bytes`/`max_headers`."
    status = 431


class BodyTooLarge(GatewayError):
    code = "CPG-HTTP-003"
    title = "The body exceeds the route's inspection limit."
    fix = "Send a smaller body or raise the route's `max_body_bytes`."
    status = 413


class BadPath(GatewayError):
    code = "CPG-HTTP-004"
    title = "The request path is not in canonical form and cannot be routed safely."
    fix = "Send the plain path: no encoded '/' or '\\', no control characters, no '..' above the root."
    status = 400


class UninspectableBody(GatewayError):
    code = "CPG-HTTP-005"
    title = "The body cannot be inspected on a route that requires inspection."
    fix = "Send an identity- or gzip-encoded body within the route's limit."
    status = 415


class NotRouted(GatewayError):
    code = "CPG-ROUTE-001"
    title = "No route matches this request."
    fix = "Add a route for this method and path to the config; unrouted requests are denied."
    status = 404


class MethodNotAllowed(GatewayError):
    code = "CPG-ROUTE-002"
    title = "The path is routed, but not for this method."
    fix = "Add the method to the route's `methods` if it should be served."
    status = 405


class UpstreamError(GatewayError):
    code = "CPG-UPS-001"
    title = "The upstream sent an invalid response."
    fix = "Check the upstream service's logs; it must answer valid HTTP/1.1."
    status = 502


class UpstreamUnavailable(UpstreamError):
    code = "CPG-UPS-002"
    title = "The upstream could not be reached."
    fix = "Check that the upstream is running and reachable at its configured URL."
    status = 502


class UpstreamTimeout(UpstreamError):
    code = "CPG-UPS-003"
    title = "The upstream did not answer in time."
    fix = "Check the upstream's health or raise the route's `timeouts.read`."
    status = 504


class UpstreamTlsError(UpstreamError):
    code = "CPG-UPS-004"
    title = "The upstream's TLS certificate could not be verified."
    fix = "Give the upstream a certificate its name matches, or set `tls.ca_file` to the CA that issued it."
    status = 502


class Overloaded(GatewayError):
    code = "CPG-GW-001"
    title = "The gateway is shutting down or at its connection limit."
    fix = "Retry shortly; operators can raise `limits.max_connections`."
    status = 503


class CorsRefused(GatewayError):
    code = "CPG-CORS-001"
    title = "The cross-origin request is not allowed by the route's CORS policy."
    fix = "Add the origin, method or headers to the route's `cors` policy if the browser app should call it."
    status = 403


class ListenError(CpraGateError):
    code = "CPG-NET-001"
    title = "A listener cannot bind its address."
    fix = "Choose a free port or stop the process using it (`ss -ltnp`); ports below 1024 need privileges."
    status = 500


class FilterFailed(GatewayError):
    code = "CPG-GW-002"
    title = "A filter failed and its failure policy is deny."
    fix = "See the gateway log for the filter and request id; fix the dependency or set `on_error`."
    status = 503


# pii filter refusals. They live here, not in the pii section above, because they are
# GatewayErrors (answered to API clients). Both are 502: the upstream's response, not
# the client's request, is what the gateway will not forward (a 4xx would blame the
# client), and a 502 does not tell a caller that personal data was found (451 would,
# and RFC 7725 reserves it for legal demands to withhold a resource).


class PiiResponseBlocked(GatewayError):
    code = "CPG-PII-006"
    title = "The upstream response was withheld by the gateway's data policy."
    fix = "The route's `pii` action rules block an entity this response holds; change the rule or the API's output."
    status = 502


class PiiResponseUninspectable(GatewayError):
    code = "CPG-PII-007"
    title = "The upstream response could not be inspected for personal information."
    fix = "Make the upstream send valid JSON or UTF-8 text with a matching Content-Type, or set the pii filter's `on_error: allow`."
    status = 502


class PiiResponseUnreadable(GatewayError):
    code = "CPG-PII-008"
    title = "The upstream response has a content type the gateway cannot inspect for personal information."
    fix = "Make the upstream send JSON or text with its Content-Type, or list the type in the route's `pii.pass_types` to pass it uninspected."
    status = 502


class PiiRequestRefused(GatewayError):
    code = "CPG-PII-009"
    title = "The request carries personal information this route does not accept there."
    fix = "Leave sensitive data out of the query string (send it in the body), or remove what the route's `pii.request` rules refuse."
    status = 400


class PiiRequestUnreadable(GatewayError):
    code = "CPG-PII-010"
    title = "The request body has a content type the gateway cannot inspect for personal information."
    fix = "Send JSON, form-encoded or text bodies with their Content-Type, or list the type in the route's `pii.pass_types`."
    status = 415


# --------------------------------------------------------------------------- validation
# Refusals of the validation filter (OpenAPI request validation, mass assignment) and of
# response conformance. The problem body lists each violation as {pointer, rule} and
# never a submitted value (it may be personal data).


class RequestInvalid(GatewayError):
    code = "CPG-VAL-001"
    title = "The request does not match the API's description (parameters, or a body that is missing or not JSON)."
    fix = "Correct the parameters or body listed under `violations` (JSON pointer and rule) to match the OpenAPI spec."
    status = 400


class MediaTypeNotAccepted(GatewayError):
    code = "CPG-VAL-002"
    title = "The request's Content-Type is not one the operation accepts."
    fix = "Send the body with a Content-Type the operation's requestBody lists, or no body if it lists none."
    status = 415


class RequestBodyInvalid(GatewayError):
    code = "CPG-VAL-003"
    title = "The request body does not match the operation's schema."
    fix = "Correct the properties listed under `violations` (JSON pointer and JSON Schema rule)."
    status = 422


class MassAssignment(GatewayError):
    code = "CPG-VAL-004"
    title = "The request sets properties the caller may not set (read-only, undeclared or privileged)."
    fix = "Remove the properties listed under `violations`, or call with a scope the route's `privileged` rule allows."
    status = 422


class RequestTooComplex(GatewayError):
    code = "CPG-VAL-005"
    title = "The request body exceeds a parser-abuse limit (nesting depth, array length, string length or key count)."
    fix = "Send a smaller document, or raise the limit named under `violations` in `validation.limits`."
    status = 400


class ResponseNonConforming(GatewayError):
    code = "CPG-VAL-006"
    title = "The upstream response does not match the API's description and was withheld."
    fix = "Make the upstream answer as its OpenAPI spec says, or set the route's `conformance.on_violation: log` / `on_error: allow`."
    status = 502


# --------------------------------------------------------------------------- auth
# Identity and access refusals. Their titles are deliberately generic: a client never
# learns whether a key exists, which part of a token failed, or whether an object it may
# not see exists (operators find the rule that decided in the audit trail and the log).


class Unauthenticated(GatewayError):
    code = "CPG-AUTH-001"
    title = "The request lacks valid credentials."
    fix = "Send a valid API key, bearer token or client certificate; see WWW-Authenticate for the scheme."
    status = 401


class Forbidden(GatewayError):
    code = "CPG-AUTH-002"
    title = "The caller is not allowed to perform this operation."
    fix = "Ask the operator for a consumer with the scope, role or purpose this route's `authz` rule requires."
    status = 403


class ObjectForbidden(GatewayError):
    code = "CPG-AUTH-003"
    title = "The caller is not allowed to access this object."
    fix = "Access only objects the route's object rules grant to the caller (owner, tenant, or previously served ids)."
    status = 403


class ObjectNotFound(GatewayError):
    code = "CPG-AUTH-004"
    title = "The requested object was not found."
    fix = "Check the id; objects the caller may not access are answered as not found (`authz.deny_objects_as`)."
    status = 404


class AuthUnavailable(GatewayError):
    code = "CPG-AUTH-005"
    title = "Credentials cannot be checked right now."
    fix = "Retry shortly; operators: check the key store and the JWKS URL, or set authn `on_error`."
    status = 503


class IdentityError(CpraGateError):
    """A consumer or API key operation (``cpragate keys``) cannot be done."""

    code = "CPG-AUTH-010"
    title = "The consumer or API key named does not exist or cannot be changed."
    fix = "List them with `cpragate keys list`; declare the consumer in the config or pass --purpose to create it."
    status = 400


class RateLimited(GatewayError):
    code = "CPG-RATE-001"
    title = "Too many requests."
    fix = "Wait for the time in Retry-After; the RateLimit-Policy header states the limit."
    status = 429


class RateLimitUnavailable(GatewayError):
    code = "CPG-RATE-002"
    title = "The request rate cannot be checked right now."
    fix = "Retry shortly; operators: check the shared rate-limit store (Redis) or set ratelimit `on_error: allow`."
    status = 503


class SharedStateRequired(ConfigError):
    code = "CPG-RATE-003"
    title = "Several workers would each keep their own rate limits or served ids."
    fix = "Set `storage.redis` (or a redis:// storage url), run one worker, or mark the filter `per_worker: true`."


class DataBudgetExhausted(GatewayError):
    code = "CPG-RATE-004"
    title = "The personal-data budget for this caller is used up for now."
    fix = "Wait for the time in Retry-After; operators: raise the budget in `filters.anomaly.budgets` if the volume is legitimate."
    status = 429


class ConsumerBlocked(GatewayError):
    code = "CPG-RATE-005"
    title = "This caller is temporarily blocked."
    fix = "Wait for the time in Retry-After; operators: review the alert and lift the block (admin API `DELETE /api/blocks/{kind}/{subject}`)."
    status = 403


# audit refusals: GatewayErrors answered to API clients on routes that require audit.


class AuditSpoolFull(GatewayError):
    code = "CPG-AUD-005"
    title = "The request cannot be audited right now."
    fix = "The audit spool is full because the sink is down or slow: restore `filters.audit.sink` or raise `spool.max_bytes`; retry later."
    status = 503


class AuditUnavailable(GatewayError):
    code = "CPG-AUD-006"
    title = "The request cannot be audited."
    fix = "The audit filter is enabled but its spool is not open or failed to write; see the gateway log (CPG-AUD-003)."
    status = 503


class ResponseNotMinimizable(GatewayError):
    code = "CPG-VAL-007"
    title = "The upstream response could not be reduced to the fields the caller may receive and was withheld."
    fix = "Make the upstream answer JSON on routes with `minimize` rules, or set the minimize filter's `on_error: allow`."
    status = 502


# --------------------------------------------------------------------------- scanner


class ScanError(CpraGateError):
    """``cpragate scan`` cannot run as asked: bad arguments, identities, baseline or target."""

    code = "CPG-SCAN-001"
    title = "The scan arguments are invalid."
    fix = "Correct the option named in the message; `cpragate scan --help` lists them."


class ScanTargetError(ScanError):
    code = "CPG-SCAN-002"
    title = "The scan target cannot be reached or is not an http(s) URL."
    fix = "Pass --target https://host[:port] of a running API; for a private CA add --ca-file (or --insecure for a throwaway test)."


class ScanBaselineError(ScanError):
    code = "CPG-SCAN-003"
    title = "The scan baseline file cannot be read or is not a cpragate baseline."
    fix = "Point --baseline at a file written by `cpragate scan --write-baseline FILE`, or remove the option."


class ScanIdentityError(ScanError):
    code = "CPG-SCAN-004"
    title = "A scan identity (--auth NAME=VALUE) is malformed or its file cannot be read."
    fix = "Write --auth NAME=TOKEN, NAME=@FILE or NAME='Header-Name: value'; the file must be readable and non-empty."


# --------------------------------------------------------------------------- admin


class AdminError(CpraGateError):
    """The admin listener, its API or the inventory export cannot do what was asked."""

    code = "CPG-ADM-001"
    title = "The admin request cannot be served."
    fix = "Check the admin listener is running (`admin:` in the config) and the request's path and parameters."
    status = 400


class AdminConfigError(AdminError):
    code = "CPG-ADM-002"
    title = "The admin listener or its tracing cannot start with this configuration."
    fix = "Correct the `admin:` section or `filters.metrics.tracing` as the message says (bind, TLS files, exporter package)."
    status = 500


class AdminAuthError(AdminError):
    code = "CPG-ADM-003"
    title = "The admin API needs a valid admin key with a role allowed to do this."
    fix = "Send `Authorization: Bearer KEY` with a key from `admin.keys`; acknowledging and lifting need the admin role."
    status = 401


class AdminBodyError(AdminError):
    code = "CPG-ADM-004"
    title = "The admin request body is missing, too large or not the JSON object the endpoint takes."
    fix = (
        "Send `Content-Type: application/json` with a `Content-Length` body of at most 64 KiB holding the fields "
        "docs/monitoring.md lists for the endpoint (no chunked bodies)."
    )
    status = 400


class DetokenizeUnavailable(AdminError):
    code = "CPG-ADM-005"
    title = "Detokenize is not available: it needs the pii filter with a tokenize key and the audit trail."
    fix = "Enable `filters.audit`, and the pii filter with `filters.pii.engine.tokenize.key` set and `reversible: true`."
    status = 409


class DetokenizeLimited(AdminError):
    code = "CPG-ADM-006"
    title = "This admin key looked up too many tokens, or sent too many invalid ones, in the last minute."
    fix = (
        "Wait a minute and retry; raise `admin.detokenize` limits if the volume is legitimate. Refused tokens were "
        "altered, truncated or made with another key."
    )
    status = 429
