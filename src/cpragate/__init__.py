"""cpragate — a CPRA-grade API security gateway.

The public API is small on purpose; everything else lives in subpackages.
"""

from cpragate import _accel

_accel.install()  # the compiled data plane, only when built from exactly this source

from cpragate.errors import CpraGateError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["CpraGateError", "__version__"]
