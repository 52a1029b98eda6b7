"""The YAML configuration: pydantic models (model.py) and loading with clear errors (load.py)."""

from cpragate.config.load import load_config, load_config_text
from cpragate.config.model import GatewayConfig

__all__ = ["GatewayConfig", "load_config", "load_config_text"]
