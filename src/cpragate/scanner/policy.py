"""``--suggest-policy FILE``: turn findings into a cpragate policy fragment that fixes them
at the gateway, for a human to review and merge into the gateway's config.

Mapping: BOLA -> ``authz.owner`` rules (response-side owner check on the owner field
seen in the answer) on the route; BFLA -> ``authz.scopes: [admin]``; mass assignment ->
``validation.mass_assignment: reject`` and ``validation.privileged``; excessive data
exposure -> response conformance (the route is generated from the spec, so undeclared
properties are stripped) plus a ``minimize`` deny-list; no rate limit -> ``ratelimit``
defaults and a tight per-route limit on logins; missing credential or forged tokens ->
``authn``; CORS -> an explicit origin list; undocumented endpoints -> nothing to add (a
gateway refuses unrouted paths), listed as a comment.
"""

from __future__ import annotations

from typing import Any

import yaml

from cpragate.scanner.model import Finding

__all__ = ["suggest_policy"]


def _route(routes: dict[str, dict[str, Any]], f: Finding) -> dict[str, Any] | None:
    key = f.policy.get("operation_id") or (f"{f.policy['method']} {f.policy['path']}" if "path" in f.policy else None)
    if not key:
        return None
    return routes.setdefault(str(key), {})


def suggest_policy(findings: list[Finding], *, spec_path: str) -> str:
    routes: dict[str, dict[str, Any]] = {}
    filters: dict[str, Any] = {}
    comments: list[str] = []
    for f in findings:
        r = _route(routes, f)
        p = f.policy
        if "bola" in p and r is not None:
            fields = p["bola"].get("owner_fields") or ["owner_id"]
            r.setdefault("authz", {})["owner"] = [{"field": f"/{fields[0]}", "in": "consumer.owner_ids"}]
            comments.append(f"{f.operation}: BOLA -- map `consumer.owner_ids` to your consumers' attribute")
        if "bfla" in p and r is not None:
            r.setdefault("authz", {})["scopes"] = p["bfla"]["scopes"]
        if "privileged" in p and r is not None:
            v = r.setdefault("validation", {})
            v["mass_assignment"] = "reject"
            v["privileged"] = [{"property": name, "scopes": ["admin"]} for name in p["privileged"]]
        if "strip" in p and r is not None:
            rule = r.setdefault("minimize", {"default": {"response": {"deny": []}}})["default"]["response"]
            deny = {s.strip("/").replace("/*", "[*]").replace("/", ".") for s in p["strip"]}
            rule["deny"] = sorted(deny | set(rule["deny"]))
            r.setdefault("conformance", {"enabled": True, "mode": "enforce"})
        if "max_page_size" in p and r is not None:
            r.setdefault("validation", {}).setdefault("unknown_query", "deny")
            comments.append(f"{f.operation}: declare `maximum: {p['max_page_size']['maximum']}` on `{p['max_page_size']['param']}` in the spec; validation enforces it")
        if p.get("rate_limit"):
            filters["ratelimit"] = {"per_ip": {"rate": 50, "per": 1}, "per_consumer": {"rate": 20, "per": 1}}
        if p.get("rate_limit_login") and r is not None:
            r["ratelimit"] = {"per_ip": {"rate": 5, "per": 60}}
        if p.get("authn"):
            filters.setdefault("authn", {"jwt": {
                "issuer": "https://issuer.example", "audience": ["CHANGE-ME"], "algorithms": ["RS256", "ES256"],
                "jwks_url": "https://issuer.example/.well-known/jwks.json",
            }})  # fmt: skip
        if p.get("cors") and r is not None:
            r["cors"] = {"allow_origins": ["https://app.example.com"], "allow_methods": [f.policy.get("method", "GET")]}
        if p.get("security_headers"):
            filters["security_headers"] = {}
        if p.get("mask_spi"):
            filters["pii"] = {"routes": "personal", "engine": {"actions": {"spi": "mask", "default": "allow"}}}
        if "unrouted" in p:
            comments.append(f"{p['unrouted']}: not in the spec -- the gateway refuses unrouted paths; keep it out of `routes`")
        if "ssrf_field" in p:
            comments.append(f"{f.operation}: restrict {p['ssrf_field']} with `format: uri` and a `pattern` of allowed hosts in the spec")
        if "strict_param" in p:
            comments.append(f"{f.operation}: give {p['strict_param']} a strict `pattern`/`maxLength` in the spec; validation enforces it")
        if p.get("tls"):
            comments.append("serve clients through a TLS listener (min_version 1.2) and only redirect on plain HTTP")
    routes = {k: v for k, v in routes.items() if v}
    doc: dict[str, Any] = {}
    if routes:
        doc["routes"] = [{"from_openapi": spec_path, "upstream": "CHANGE-ME", "overrides": routes}]
    if filters:
        doc["filters"] = filters
    head = [
        "# Proposed by `cpragate scan --suggest-policy`: a fragment to review and merge into your gateway config.",
        "# It fixes the scan's findings at the gateway; fix the API too.",
    ]
    head += [f"# - {c}" for c in dict.fromkeys(comments)]
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) if doc else "{}\n"
    return "\n".join(head) + "\n" + body
