"""The --workers rule: state that limits must share lives in Redis, or is declared per worker.

With N worker processes, an in-process rate limit admits N times the configured rate and
served ids learned by one worker are unknown to the others. ``cpragate run --workers N``
and ``cpragate config check --workers N`` refuse such a config unless the filter says
``per_worker: true`` (each worker then enforces its own share knowingly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cpragate.errors import SharedStateRequired

if TYPE_CHECKING:
    from cpragate.config.model import GatewayConfig

__all__ = ["require_shared_state", "shared_state_problems"]


def _shared(cfg: GatewayConfig) -> bool:
    return cfg.storage.redis is not None or cfg.storage.url.startswith(("redis://", "rediss://"))


def shared_state_problems(cfg: GatewayConfig, workers: int) -> list[str]:
    """What would be kept per process although it must be shared; [] when fine."""
    if workers <= 1 or _shared(cfg):
        return []
    out = []
    rl = cfg.filters.ratelimit
    if rl.enabled and not rl.per_worker:
        limited = rl.per_ip is not None or rl.per_consumer is not None or bool(rl.consumers)
        limited = limited or any(r.ratelimit is not None for r in cfg.routes)
        if limited:
            out.append("filters.ratelimit: rate limits would be kept per worker (each admitting the full rate)")
    az = cfg.filters.authz
    if az.enabled and not az.per_worker and any(r.authz is not None and r.authz.served_ids is not None for r in cfg.routes):
        out.append("filters.authz: served ids would be learned per worker (the others refuse them)")
    an = getattr(cfg.filters, "anomaly", None)
    if an is not None and an.enabled and not an.per_worker:
        out.append("filters.anomaly: detector windows, alerts and blocks would be kept per worker (a block set by one is unknown to the others)")
    return out


def require_shared_state(cfg: GatewayConfig, workers: int) -> None:
    problems = shared_state_problems(cfg, workers)
    if problems:
        raise SharedStateRequired(
            f"--workers {workers} with in-process state:\n  " + "\n  ".join(problems)
        )
