"""``cpragate inventory export``: the observed API inventory as an OpenAPI skeleton or CSV.

The inventory lives in the running gateway; this command reads it from the admin API
(``--url``, the key from ``$CPRAGATE_ADMIN_KEY`` or ``--key-file``, never from the
command line where other users could see it in ``ps``), or from a snapshot saved earlier
with ``--format json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from cpragate.errors import AdminError

__all__ = ["fetch_snapshot", "register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inv = subparsers.add_parser(
        "inventory", help="export the observed API inventory", description="The API inventory the gateway observed."
    )
    sub = inv.add_subparsers(dest="inventory_command", metavar="SUBCOMMAND")
    sub.required = True
    e = sub.add_parser(
        "export",
        help="export the inventory as OpenAPI, CSV or JSON",
        description="Export the observed inventory (from a running gateway's admin API, or a saved JSON snapshot).",
    )
    e.add_argument("--format", choices=("openapi", "csv", "json"), default="openapi", help="output format (default openapi)")
    e.add_argument("--url", default="http://127.0.0.1:9901", help="admin listener base URL (default http://127.0.0.1:9901)")
    e.add_argument("--key-file", help="file holding the admin key (default: $CPRAGATE_ADMIN_KEY)")
    e.add_argument("--snapshot", metavar="FILE", help="read a JSON snapshot saved with --format json instead of the admin API")
    e.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    e.set_defaults(func=_export)


def fetch_snapshot(url: str, key: str, timeout: float = 10.0) -> dict[str, Any]:
    """The inventory snapshot from the admin API at ``url``."""
    if not url.startswith(("http://", "https://")):
        raise AdminError(f"--url {url[:60]!r} is not an http(s) URL.", fix="Pass the admin listener's base URL, e.g. http://127.0.0.1:9901.")
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        url.rstrip("/") + "/api/inventory", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - the operator's own admin URL
            data: dict[str, Any] = orjson.loads(r.read())
            return data
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise AdminError(f"the admin API at {url} refused the key (HTTP {e.code}).",
                             fix="Set $CPRAGATE_ADMIN_KEY (or --key-file) to a key from the config's admin.keys.") from None
        raise AdminError(f"the admin API at {url} answered HTTP {e.code}.") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or type(e).__name__
        raise AdminError(f"cannot read the inventory from {url} ({reason}).",
                         fix="Start the gateway with an `admin:` section, or pass --url of its admin listener.") from None


def _export(args: argparse.Namespace) -> int:
    from cpragate.filters.inventory.model import to_csv, to_openapi

    if args.snapshot:
        try:
            snap = orjson.loads(Path(args.snapshot).read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            raise AdminError(f"snapshot {args.snapshot} cannot be read ({type(e).__name__}).",
                             fix="Pass a file written by `cpragate inventory export --format json`.") from None
        if not isinstance(snap, dict) or not isinstance(snap.get("endpoints"), list):
            raise AdminError(f"{args.snapshot} is not an inventory snapshot.",
                             fix="Pass a file written by `cpragate inventory export --format json`.")
    else:
        key = Path(args.key_file).read_text().strip() if args.key_file else os.environ.get("CPRAGATE_ADMIN_KEY", "")
        if not key:
            raise AdminError("no admin key given.", fix="Set $CPRAGATE_ADMIN_KEY or pass --key-file FILE.")
        snap = fetch_snapshot(args.url, key)
    if args.format == "csv":
        text = to_csv(snap)
    elif args.format == "json":
        text = orjson.dumps(snap, option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        text = orjson.dumps(to_openapi(snap), option=orjson.OPT_INDENT_2).decode() + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
