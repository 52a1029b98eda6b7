"""A tiny in-process gateway for validation tests: config text -> routed pipelines, no sockets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from cpragate.config import load_config_text
from cpragate.config.model import GatewayConfig
from cpragate.core.access import Identity
from cpragate.core.filter import Filter, FilterContext
from cpragate.core.messages import Response
from cpragate.core.pipeline import Pipeline
from cpragate.core.registry import builtin_filters
from cpragate.core.route import RouteInfo
from cpragate.core.router import Router
from cpragate.testing import FakeClock, FilterRun, make_exchange, make_request, make_response, run_pipeline

REPO = Path(__file__).resolve().parents[4]
FIXTURES = REPO / "tests" / "fixtures" / "openapi"

HEAD = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {api: {url: "http://127.0.0.1:9", allow_plaintext: true}}
"""


@dataclass
class Caller:
    """A stub of what authn puts on Exchange.identity."""

    consumer: str
    purpose: str
    scopes: frozenset[str] = frozenset()


class MiniGateway:
    def __init__(self, config_text: str, base_dir: Path = REPO) -> None:
        self.cfg: GatewayConfig = load_config_text(HEAD + config_text, "test.yaml", base_dir=base_dir)
        ctx = FilterContext(clock=FakeClock())
        self.filters: dict[str, Filter] = {}
        for name, cls in builtin_filters().items():
            fcfg = getattr(self.cfg.filters, name, None) or cls.Config()
            if getattr(fcfg, "enabled", True):
                self.filters[name] = cls(fcfg, ctx)
        self.router: Router[RouteInfo] = Router()
        for r in self.cfg.routes:
            info = RouteInfo(name=r.name or r.path, template=r.path, methods=tuple(r.methods), upstream=r.upstream,
                             personal=r.personal, settings=r)
            names = list(self.filters) if r.filters is None else r.filters
            info.pipeline = Pipeline([self.filters[n] for n in names if self.filters[n].applies_to(info)])
            self.router.add(r.path, r.methods, info)

    def call(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        *,
        headers: dict[str, str] | None = None,
        response: Response | None = None,
        json_response: bytes | None = None,
        status: int = 200,
        identity: object | None = None,
    ) -> FilterRun:
        h = {"content-type": "application/json"} if body is not None else {}
        h.update(headers or {})
        req = make_request(method, target, headers=h, body=body)
        m = self.router.match(method, req.path)
        assert m, f"{method} {target} is not routed"
        ex = make_exchange(req, route=m.payload)
        ex.params = m.params
        ex.identity = identity  # type: ignore[assignment]
        if json_response is not None:
            response = make_response(status, {"content-type": "application/json"}, json_response)
        assert m.payload.pipeline is not None
        return run_pipeline(list(m.payload.pipeline.filters), ex, response)


def identity(consumer: str, purpose: str = "service_provider", scopes: tuple[str, ...] = ()) -> Identity:
    return Identity(consumer=consumer, purpose=purpose, method="api_key", credential_id="k_test",  # type: ignore[arg-type]
                    scopes=frozenset(scopes))


@pytest.fixture
def mini() -> type[MiniGateway]:
    return MiniGateway


@pytest.fixture
def ident() -> object:
    return identity
