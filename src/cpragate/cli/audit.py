"""``cpragate audit search|verify|purge|shred`` and ``cpragate dsar``.

Every command reads the gateway config (``-c FILE``, else ``$CPRAGATE_CONFIG``, else
``./cpragate.yaml``, else the demo policy) for the sink, the table prefix and the keys,
so it answers for the same trail the gateway writes. Output never contains a raw
subject id other than the one given on the command line.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cpragate.audit.chain import key_id, sign_checkpoint, verify_instance
from cpragate.audit.dsar import dsar_html, dsar_report
from cpragate.audit.events import iso, lookup, pseudonym
from cpragate.audit.keys import load_master_key, load_public_key, load_signing_key
from cpragate.errors import AuditError

__all__ = ["parse_when", "register"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}


def parse_when(text: str, now: float | None = None) -> float:
    """``12mo``, ``400d``, ``24h`` (ago) or an ISO date/time → Unix seconds."""
    now = time.time() if now is None else now
    m = re.fullmatch(r"(\d+)(s|m|h|d|w|mo|y)", text.strip())
    if m:
        return now - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        d = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use a duration like 12mo, 400d, 24h or an ISO date") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


class _Ctx:
    """The audit settings of the config the CLI was pointed at."""

    def __init__(self, args: argparse.Namespace) -> None:
        from cpragate.config import load_config, load_config_text

        path = args.config or os.environ.get("CPRAGATE_CONFIG") or ("cpragate.yaml" if Path("cpragate.yaml").exists() else None)
        if path:
            cfg = load_config(path)
        else:
            from importlib.resources import files

            from cpragate.demo.run import policy_text

            print("note: no -c FILE, $CPRAGATE_CONFIG or ./cpragate.yaml: using the demo policy", file=sys.stderr)
            cfg = load_config_text(
                policy_text(), "demo-policy.yaml", env=dict(os.environ), base_dir=Path(str(files("cpragate.demo")))
            )
        self.cfg = cfg.filters.audit
        self.state = Path(cfg.state_dir)
        self.sink_url = args.sink or self.cfg.sink.replace("{state_dir}", str(self.state))

    def sink(self) -> Any:
        from cpragate.storage.audit_sink import open_sink

        return open_sink(self.sink_url, self.cfg.table_prefix)

    def master(self) -> bytes:
        v = self.cfg.pseudonym_key.get_secret_value() if self.cfg.pseudonym_key is not None else None
        p = self.state / "audit-pseudonym.key"
        if v is None and not p.exists():
            raise AuditError(f"no pseudonym key: set filters.audit.pseudonym_key or run the gateway once ({p}).")
        return load_master_key(v, p)

    def signing(self) -> Any:
        v = self.cfg.signing_key.get_secret_value() if self.cfg.signing_key is not None else None
        return load_signing_key(v, self.state / "audit-signing-key.pem")

    def subject_pseudonym(self, sink: Any, subject: str) -> tuple[str, str | None]:
        lk = lookup(self.master(), subject)
        key = sink.subject_keys([lk], create=False).get(lk)
        return lk, (pseudonym(key, lk) if key is not None else None)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` (search, verify, purge, shred) and ``dsar``."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", help="gateway config (default: $CPRAGATE_CONFIG, ./cpragate.yaml, the demo policy)")
        p.add_argument("--sink", help="audit sink URL instead of the config's filters.audit.sink")

    audit = subparsers.add_parser("audit", help="search, verify and purge the audit trail", description="The audit trail.")
    sub = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    sub.required = True

    s = sub.add_parser("search", help="find events by consumer, route, subject, decision, time")
    common(s)
    s.add_argument("--consumer")
    s.add_argument("--route", help="route template, e.g. /v1/customers/{id}")
    s.add_argument("--subject", help="data subject id (looked up by its pseudonym)")
    s.add_argument("--decision", choices=("allow", "deny", "error"))
    s.add_argument("--outcome", choices=("served", "denied", "error", "aborted", "interrupted"))
    s.add_argument("--since", type=parse_when, help="12mo, 30d, 24h or an ISO date")
    s.add_argument("--until", type=parse_when)
    s.add_argument("--limit", type=int, default=100)
    s.add_argument("--format", choices=("table", "json"), default="table")
    s.set_defaults(func=_search)

    v = sub.add_parser("verify", help="check every instance's hash chain and signed checkpoints")
    common(v)
    v.add_argument("--public-key", action="append", default=[], metavar="FILE",
                   help="trust checkpoints signed by this key too (PEM or raw hex/base64); repeatable")
    v.add_argument("--format", choices=("table", "json"), default="table")
    v.set_defaults(func=_verify)

    p = sub.add_parser("purge", help="delete events older than the retention, leaving a signed checkpoint")
    common(p)
    p.add_argument("--older-than", help="e.g. 400d or 24mo (default: filters.audit.retention_days)")
    p.set_defaults(func=_purge)

    sh = sub.add_parser("shred", help="destroy a data subject's pseudonym key (deletion request, 1798.105)")
    common(sh)
    sh.add_argument("--subject", required=True)
    sh.set_defaults(func=_shred)

    d = subparsers.add_parser("dsar", help="right-to-know report for one data subject (JSON and HTML)",
                              description="Which API consumers received which personal information about a subject.")
    common(d)
    d.add_argument("--subject", required=True, help="the data subject's id as the API names it")
    d.add_argument("--since", type=parse_when, default=None, help="default 12mo")
    d.add_argument("--html", metavar="FILE", help="also write the readable report here")
    d.add_argument("--out", metavar="FILE", help="write the JSON here instead of stdout")
    d.set_defaults(func=_dsar)


def _search(args: argparse.Namespace) -> int:
    from cpragate.storage.audit_sink import SearchQuery

    ctx = _Ctx(args)
    sink = ctx.sink()
    try:
        subjects: tuple[str, ...] = ()
        if args.subject is not None:
            _, ps = ctx.subject_pseudonym(sink, args.subject)
            if ps is None:
                print("[]" if args.format == "json" else "no events for this subject")
                return 0
            subjects = (ps,)
        q = SearchQuery(consumer=args.consumer, route=args.route, subjects=subjects, decision=args.decision,
                        outcome=args.outcome, since=args.since, until=args.until, limit=args.limit)
        events = [orjson.loads(b) for b in sink.search(q)]
    finally:
        sink.close()
    if args.format == "json":
        sys.stdout.write(orjson.dumps(events, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"{'time':<24} {'instance:seq':<16} {'consumer':<14} {'request':<44} {'status':<6} decision")
    for e in events:
        req = f"{e.get('method')} {e.get('path') or '-'}"
        rule = f" ({e['rule']})" if e.get("rule") else ""
        print(f"{e.get('ts', ''):<24} {e.get('instance')}:{e.get('seq'):<10} {(e.get('consumer') or '-'):<14} "
              f"{req[:44]:<44} {e.get('status') or '-'!s:<6} {e.get('decision')}{rule} {e.get('outcome')}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    ctx = _Ctx(args)
    keys = {}
    sk = ctx.state / "audit-signing-key.pem"
    if ctx.cfg.signing_key is not None or sk.exists():
        pub = ctx.signing().public_key()
        keys[key_id(pub)] = pub
    for f in args.public_key:
        pub = load_public_key(Path(f).read_text())
        keys[key_id(pub)] = pub
    sink = ctx.sink()
    reports = []
    t0 = time.perf_counter()
    try:
        for st in sink.instances():
            reports.append(
                verify_instance(st.instance, sink.chain(st.instance), checkpoints=sink.checkpoints(st.instance),
                                keys=keys, head_seq=st.head_seq or None)
            )
    finally:
        sink.close()
    took = time.perf_counter() - t0
    ok = all(r.ok for r in reports)
    if args.format == "json":
        out = {"ok": ok, "trusted_keys": sorted(keys), "seconds": round(took, 3), "instances": [r.as_dict() for r in reports]}
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        if not keys:
            print("warning: no trusted public key (config or --public-key): every checkpoint counts as forged")
        for r in reports:
            state = "OK" if r.ok else f"TAMPERED (first bad seq {r.first_bad_seq})"
            print(f"{r.instance}: {state} — {r.events} events {r.first_seq}..{r.last_seq}, {r.checkpoints} signed checkpoints")
            for p in r.problems[:20]:
                print(f"  {p.kind} at {p.seq}: {p.detail}")
        n = sum(r.events for r in reports)
        print(f"{'verified' if ok else 'FAILED'}: {len(reports)} instance(s), {n} events in {took:.2f}s")
    return 0 if ok else 1


def _purge(args: argparse.Namespace) -> int:
    ctx = _Ctx(args)
    before = parse_when(args.older_than) if args.older_than else time.time() - ctx.cfg.retention_days * 86400
    key = ctx.signing()
    sink = ctx.sink()
    total = 0
    try:
        for st in sink.instances():
            plan = sink.purge_plan(st.instance, before)
            if plan is None:
                continue
            seq, h = plan
            cp = sign_checkpoint(key, st.instance, seq, h, time.time(), "purge")
            n = sink.purge(st.instance, seq, cp)
            total += n
            print(f"{st.instance}: deleted {n} events up to seq {seq}; signed purge checkpoint left at the cut")
    finally:
        sink.close()
    print(f"purged {total} events older than {iso(before)}")
    return 0


def _shred(args: argparse.Namespace) -> int:
    ctx = _Ctx(args)
    sink = ctx.sink()
    try:
        lk = lookup(ctx.master(), args.subject)
        gone = sink.shred(lk)
    finally:
        sink.close()
    print("subject key destroyed: their events can no longer be linked to them" if gone else "no key for this subject")
    return 0


def _dsar(args: argparse.Namespace) -> int:
    from cpragate.storage.audit_sink import SearchQuery

    ctx = _Ctx(args)
    since = args.since if args.since is not None else parse_when("12mo")
    until = time.time()
    sink = ctx.sink()
    try:
        _, ps = ctx.subject_pseudonym(sink, args.subject)
        events = []
        if ps is not None:
            q = SearchQuery(subjects=(ps,), since=since, until=until + 1, limit=1_000_000, newest_first=False)
            events = [orjson.loads(b) for b in sink.search(q)]
    finally:
        sink.close()
    rep = dsar_report(events, subject=args.subject, pseudonym=ps, since=iso(since), until=iso(until), generated=iso(until))
    data = orjson.dumps(rep, option=orjson.OPT_INDENT_2) + b"\n"
    if args.out:
        Path(args.out).write_bytes(data)
    else:
        sys.stdout.write(data.decode())
    if args.html:
        Path(args.html).write_text(dsar_html(rep), encoding="utf-8")
    return 0


