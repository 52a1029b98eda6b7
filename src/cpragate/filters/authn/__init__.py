"""Authentication: API keys, bearer JWTs (JWKS) and client certificates mapped to consumers."""

from cpragate.filters.authn.config import AuthnConfig, ConsumerConfig, JwtConfig, RouteAuth
from cpragate.filters.authn.filter import AuthnFilter

__all__ = ["AuthnConfig", "AuthnFilter", "ConsumerConfig", "JwtConfig", "RouteAuth"]
