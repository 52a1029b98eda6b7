"""The built-in filters, by name; third-party filters come from the ``cpragate.filters``
entry-point group. Adding a capability adds one line to ``_BUILTIN``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from cpragate.core.filter import Filter

__all__ = ["builtin_filters", "load_filters"]

# name -> "module:Class"; imported lazily so `cpragate --help` stays fast.
_BUILTIN: dict[str, str] = {
    "security_headers": "cpragate.filters.security_headers.filter:SecurityHeadersFilter",
    "cors": "cpragate.filters.cors.filter:CorsFilter",
    "pii": "cpragate.filters.pii.filter:PiiFilter",
    "ratelimit_ip": "cpragate.filters.ratelimit.filter:RateLimitIpFilter",
    "authn": "cpragate.filters.authn.filter:AuthnFilter",
    "authz": "cpragate.filters.authz.filter:AuthzFilter",
    "ratelimit": "cpragate.filters.ratelimit.filter:RateLimitFilter",
    "owner_check": "cpragate.filters.authz.owner:OwnerCheckFilter",
    "validation": "cpragate.filters.validation.filter:ValidationFilter",
    "conformance": "cpragate.filters.validation.conformance:ConformanceFilter",
    "minimize": "cpragate.filters.minimize.filter:MinimizeFilter",
    "audit": "cpragate.filters.audit.filter:AuditFilter",
    "anomaly": "cpragate.filters.anomaly.filter:AnomalyFilter",
    "inventory": "cpragate.filters.inventory.filter:InventoryFilter",
    "metrics": "cpragate.filters.metrics.filter:MetricsFilter",
}


def _load(spec: str) -> type[Filter]:
    mod, _, cls = spec.partition(":")
    obj = getattr(importlib.import_module(mod), cls)
    if not (isinstance(obj, type) and issubclass(obj, Filter)):
        raise TypeError(f"{spec} is not a Filter subclass")
    return obj


def builtin_filters() -> dict[str, type[Filter]]:
    """Every built-in filter class by name, in declaration order."""
    return {name: _load(spec) for name, spec in _BUILTIN.items()}


def load_filters(include_plugins: bool = True) -> dict[str, type[Filter]]:
    """Built-in filters plus those registered by installed packages (entry points)."""
    found = builtin_filters()
    if include_plugins:
        for ep in entry_points(group="cpragate.filters"):
            if ep.name in found:
                raise TypeError(f"plugin filter {ep.name!r} clashes with a built-in filter")
            found[ep.name] = _load(ep.value)
    return found
