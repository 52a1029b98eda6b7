"""Security findings about a valid config: allowed, but worth an operator's attention."""

from __future__ import annotations

from cpragate.config.model import GatewayConfig

__all__ = ["findings"]


def findings(cfg: GatewayConfig) -> list[str]:
    out = []
    for name, up in cfg.upstreams.items():
        if up.url.startswith("http://"):
            out.append(f"upstreams.{name}: plaintext http:// hop (allow_plaintext) — personal information travels unencrypted")
        elif not up.tls.verify:
            out.append(f"upstreams.{name}: TLS verification is off — the hop can be intercepted")
    for i, lst in enumerate(cfg.listeners):
        if lst.tls is None and lst.redirect_to_https is None:
            out.append(f"listeners[{i}] ({lst.bind}): plain HTTP listener — use TLS unless a TLS proxy terminates in front")
    pii = cfg.filters.pii
    if pii.enabled:
        if pii.pass_types:
            out.append(f"filters.pii.pass_types: {', '.join(pii.pass_types)} bodies pass uninspected on inspected routes")
        if not pii.text:
            out.append("filters.pii.text: false — text and XML responses pass uninspected on inspected routes")
    adm = getattr(cfg, "admin", None)
    if adm is not None and adm.enabled and adm.tls is None and adm.allow_remote_plaintext:
        from cpragate.admin.config import is_loopback_bind

        if not is_loopback_bind(adm.bind):
            out.append(f"admin ({adm.bind}): admin listener on a non-loopback address without TLS — admin keys travel in clear")
    for i, r in enumerate(cfg.routes):
        if r.on_body_too_large == "pass_uninspected":
            out.append(f"routes[{i}] ({r.path}): bodies over max_body_bytes pass uninspected")
        if pii.enabled and r.pii is not None and r.pii.pass_types:
            out.append(f"routes[{i}] ({r.path}): pii.pass_types {', '.join(r.pii.pass_types)} bodies pass uninspected")
    for where in getattr(cfg, "_literal_secrets", None) or ():
        out.append(
            f"{where}: secret written in the config file — read it from ${{ENV}} or file: instead "
            "(anyone who can read the file, its backups or its history has it)"
        )
    return out
