"""OpenAPI 3.0/3.1 loading, shared by request validation, ``cpragate init``, the
inventory and the scanner.

    spec = load_spec("openapi.yaml")                 # SpecError on a broken spec
    op, path_params = spec.find("POST", "/pets")     # or spec.route("POST", "/pets")
    result = op.params.validate(path=path_params, query=query, headers=headers)
    media = op.request_body.media_type(content_type) # None -> 415
    violation = check_limits(body, JsonLimits(), size=len(text))  # before any Python walk
    violations = media.schema.validate(body)         # [(pointer, rule)], never values
    media.schema.read_only(body), media.schema.undeclared(body)
    media.schema.is_clean(body, read_only=True)      # all of it in one Rust call: True = nothing to report
    op.response_for(200).media_type(ct).schema.strip_undeclared(body)

See docs/openapi.md for what is supported.
"""

from cpragate.openapi.limits import JsonLimits, check_limits
from cpragate.openapi.loader import load_spec
from cpragate.openapi.model import (
    CompiledSchema,
    MediaType,
    Operation,
    Parameter,
    RequestBody,
    Response,
    SecurityScheme,
    Server,
    Spec,
    match_media_type,
)
from cpragate.openapi.params import ParameterResult, ParameterValidator
from cpragate.openapi.properties import PropertyShape
from cpragate.openapi.validator import SchemaValidator, Violation

__all__ = [
    "CompiledSchema",
    "JsonLimits",
    "MediaType",
    "Operation",
    "Parameter",
    "ParameterResult",
    "ParameterValidator",
    "PropertyShape",
    "RequestBody",
    "Response",
    "SchemaValidator",
    "SecurityScheme",
    "Server",
    "Spec",
    "Violation",
    "check_limits",
    "load_spec",
    "match_media_type",
]
