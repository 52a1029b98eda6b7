"""The ``cpragate`` command."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from cpragate import __version__
from cpragate.errors import CpraGateError, all_errors, lookup

__all__ = ["build_parser", "main"]


def _cmd_run(args: argparse.Namespace) -> int:
    from cpragate.server.serve import serve

    return serve(args.config, workers=args.workers)


def _cmd_demo(args: argparse.Namespace) -> int:
    from cpragate.demo.run import run_demo

    return run_demo(
        state_dir=args.state_dir,
        port=args.port,
        api_port=args.api_port,
        duration=args.duration,
        prepare_only=args.prepare_only,
    )


def _cmd_config_check(args: argparse.Namespace) -> int:
    from cpragate.config import load_config
    from cpragate.config.findings import findings

    cfg = load_config(args.file)
    from cpragate.filters.ratelimit.workers import require_shared_state

    require_shared_state(cfg, args.workers)
    print(f"{args.file}: OK — {len(cfg.listeners)} listener(s), {len(cfg.upstreams)} upstream(s), {len(cfg.routes)} route(s)")
    for f in findings(cfg):
        print(f"finding: {f}")
    return 0


def _cmd_config_schema(args: argparse.Namespace) -> int:
    from cpragate.config.model import GatewayConfig

    schema = GatewayConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cpragate configuration"
    print(json.dumps(schema, indent=2))
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    from cpragate import _accel

    print(f"cpragate {__version__}\ncompiled modules: {_accel.status()}")
    return 0


def _cmd_errors(args: argparse.Namespace) -> int:
    if args.code:
        cls = lookup(args.code)
        if cls is None:
            print(f"unknown error code {args.code}; `cpragate errors` lists them all", file=sys.stderr)
            return 2
        print(f"{cls.code}  (HTTP {cls.status})\n  cause: {cls.title}\n  fix:   {cls.fix}")
        return 0
    for cls in all_errors():
        if cls.code == "CPG-000":
            continue
        print(f"{cls.code:<14} {cls.title}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cpragate",
        description="A CPRA-grade API security gateway: put it in front of HTTP/JSON APIs that carry personal information.",
    )
    p.add_argument("--version", action="version", version=f"cpragate {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="serve a config", description="Serve the gateway described by a config file.")
    run.add_argument("-c", "--config", required=True, help="YAML config file")
    run.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (default 1)")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser(
        "demo",
        help="start the demo API behind the gateway (no server needed)",
        description="Start the example API with fake personal data behind the gateway on HTTPS, with a dev CA made on first run.",
    )
    demo.add_argument("--state-dir", default=".cpragate-demo", help="folder for certificates and state (default .cpragate-demo)")
    demo.add_argument("--port", type=int, default=8443, help="HTTPS port of the gateway (default 8443)")
    demo.add_argument("--api-port", type=int, default=0, help="port of the demo API upstream (default: any free port)")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds (for scripts)")
    demo.add_argument("--prepare-only", action="store_true", help="only create the dev CA and certificates, then exit")
    demo.set_defaults(func=_cmd_demo)

    cfg = sub.add_parser("config", help="check a config or print its JSON Schema", description="Config tools.")
    csub = cfg.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    csub.required = True
    chk = csub.add_parser("check", help="validate a config file", description="Validate a config file; list every problem with file:line and key path.")
    chk.add_argument("file")
    chk.add_argument("--workers", type=int, default=1, help="check for this many worker processes (shared state)")
    chk.set_defaults(func=_cmd_config_check)
    sch = csub.add_parser("schema", help="print the JSON Schema of the config", description="Print the config's JSON Schema (for editor validation).")
    sch.set_defaults(func=_cmd_config_schema)

    ver = sub.add_parser("version", help="print the version", description="Print the version.")
    ver.set_defaults(func=_cmd_version)

    err = sub.add_parser("errors", help="explain an error code", description="List error codes, or explain one: cause and fix.")
    err.add_argument("code", nargs="?")
    err.set_defaults(func=_cmd_errors)

    # Capabilities that bring their own commands register them here.
    for mod in ("cpragate.cli.pii", "cpragate.cli.keys", "cpragate.cli.audit", "cpragate.cli.scan",
                "cpragate.cli.inventory", "cpragate.cli.replay"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        m.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except CpraGateError as e:
        print(str(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
