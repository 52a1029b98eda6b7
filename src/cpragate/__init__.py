"""cpragate — a CPRA-grade API security gateway.

The public API is small on purpose; everything else lives in subpackages.
"""

from cpragate.errors import CpraGateError

__version__ = "0.1.0"

__all__ = ["CpraGateError", "__version__"]
