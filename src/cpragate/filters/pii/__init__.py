"""Personal information in responses: detect it, then mask, redact, tokenize, drop or block it (issue 5)."""

from cpragate.filters.pii.config import PiiFilterConfig, PiiRouteSettings
from cpragate.filters.pii.filter import PiiFilter

__all__ = ["PiiFilter", "PiiFilterConfig", "PiiRouteSettings"]
