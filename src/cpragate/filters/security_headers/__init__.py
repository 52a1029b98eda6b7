"""Security response headers: HSTS, nosniff, framing, referrer, CSP, no-store on personal routes."""

from cpragate.filters.security_headers.config import SecurityHeadersConfig
from cpragate.filters.security_headers.filter import SecurityHeadersFilter

__all__ = ["SecurityHeadersConfig", "SecurityHeadersFilter"]
