"""Per-route CORS: no CORS headers unless a route declares a policy; never ``*`` with credentials."""

from cpragate.filters.cors.config import CorsConfig, CorsPolicy
from cpragate.filters.cors.filter import CorsFilter

__all__ = ["CorsConfig", "CorsFilter", "CorsPolicy"]
