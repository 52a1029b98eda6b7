from __future__ import annotations

import pytest
from pydantic import ValidationError

from cpragate.config import load_config_text
from cpragate.filters.inventory.config import InventoryConfig

BASE = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {o: {url: "https://api.internal"}}
routes: [{path: /a, upstream: o}]
"""


def test_defaults_and_bounds() -> None:
    c = InventoryConfig()
    assert c.enabled is False and c.max_endpoints == 5000
    with pytest.raises(ValidationError):
        InventoryConfig.model_validate({"max_endpoints": 1})
    with pytest.raises(ValidationError):
        InventoryConfig.model_validate({"unknown": 1})


def test_on_with_the_admin_listener_unless_set() -> None:
    assert load_config_text(BASE).filters.inventory.enabled is False
    admin = BASE + 'admin: {keys: [{name: a, sha256: "' + "0" * 64 + '"}]}\n'
    cfg = load_config_text(admin)
    assert cfg.filters.inventory.enabled and cfg.filters.metrics.enabled
    off = admin + "filters: {inventory: {enabled: false}}\n"
    cfg = load_config_text(off)
    assert not cfg.filters.inventory.enabled and cfg.filters.metrics.enabled
