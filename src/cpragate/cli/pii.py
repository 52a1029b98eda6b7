"""``cpragate pii scan FILE|-``: find personal information in JSON, NDJSON or text.

Findings are printed as a table or JSON with path, entity, CPRA category, SPI flag and
a *masked* preview; the raw value is never printed. ``--mask`` writes the document with
every finding masked (to ``--out FILE``, or to stdout, in which case the findings go to
stderr as a one-line summary).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from cpragate.errors import PiiInputError
from cpragate.pii import Action, ActionRules, Engine, Finding

__all__ = ["register", "run"]

_MASK_ALL = ActionRules(default=Action.MASK)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``pii`` command (with its ``scan`` subcommand) to the CLI."""
    pii = subparsers.add_parser("pii", help="find and mask personal information", description="PII tools.")
    psub = pii.add_subparsers(dest="pii_command", metavar="SUBCOMMAND")
    psub.required = True
    scan = psub.add_parser(
        "scan",
        help="list personal information in a JSON, NDJSON or text file",
        description="List the personal information in a file: path, entity, CPRA category, "
        "SPI flag and a masked preview (never the raw value).",
    )
    scan.add_argument("file", help="the file to scan, or - for standard input")
    scan.add_argument(
        "--format",
        choices=("auto", "json", "ndjson", "text"),
        default="auto",
        help="input format (auto: by extension, then by content)",
    )
    scan.add_argument("--output", choices=("table", "json"), default="table", help="how to print findings")
    scan.add_argument("--mask", action="store_true", help="write the document with PII masked")
    scan.add_argument("--out", metavar="FILE", help="where --mask writes (default: stdout)")
    scan.add_argument(
        "--fail-on",
        choices=("never", "any", "spi"),
        default="never",
        help="exit 1 if there are findings (any) or SPI findings (spi); for CI",
    )
    scan.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``pii scan``; returns the exit code.

    :raises PiiInputError: the file cannot be read or parsed in the chosen format.
    """
    data = _read(args.file)
    fmt = _detect_format(args.file, data) if args.format == "auto" else args.format
    engine = Engine()
    findings: list[tuple[int | None, Finding]] = []
    masked: list[bytes] = []
    if fmt == "json":
        findings = [(None, f) for f in engine.scan_json(data, previews=True)]
        if args.mask:
            masked.append(engine.process_json(data, _MASK_ALL).body + b"\n")
    elif fmt == "ndjson":
        for lineno, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                if args.mask:
                    masked.append(line + b"\n")
                continue
            try:
                findings += [(lineno, f) for f in engine.scan_json(line, previews=True)]
            except PiiInputError:
                raise PiiInputError(f"line {lineno} is not valid JSON.") from None
            if args.mask:
                masked.append(engine.process_json(line, _MASK_ALL).body + b"\n")
    else:
        text = _decode(data)
        findings = [(None, f) for f in engine.scan_text(text, previews=True)]
        if args.mask:
            out_text, _ = engine.process_text(text, _MASK_ALL)
            masked.append(out_text.encode())

    to_stdout = args.mask and not args.out
    report = sys.stderr if to_stdout else sys.stdout
    if args.mask:
        if args.out:
            Path(args.out).write_bytes(b"".join(masked))
        else:
            sys.stdout.buffer.write(b"".join(masked))
            sys.stdout.flush()
    if to_stdout:
        spi = sum(1 for _, f in findings if f.spi)
        print(f"{len(findings)} finding(s), {spi} SPI; masked document written", file=report)
    elif args.output == "json":
        rows = [_row(line, f) for line, f in findings]
        report.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _table(findings, report)
    if args.fail_on == "any" and findings:
        return 1
    if args.fail_on == "spi" and any(f.spi for _, f in findings):
        return 1
    return 0


def _read(name: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise PiiInputError(f"cannot read {name}: {exc.strerror}.") from None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PiiInputError("the input is not UTF-8.") from None


def _detect_format(name: str, data: bytes) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    if suffix in (".txt", ".log", ".md"):
        return "text"
    try:
        orjson.loads(data)
        return "json"
    except orjson.JSONDecodeError:
        pass
    lines = [ln for ln in data.splitlines() if ln.strip()]
    if lines and len(lines) > 1:
        try:
            for ln in lines:
                orjson.loads(ln)
            return "ndjson"
        except orjson.JSONDecodeError:
            pass
    if suffix == ".json":
        raise PiiInputError(f"{name} is not valid JSON.")
    _decode(data)
    return "text"


def _row(line: int | None, f: Finding) -> dict[str, Any]:
    row = f.to_dict()
    if line is not None:
        row = {"line": line, **row}
    return row


def _table(findings: list[tuple[int | None, Finding]], out: Any) -> None:
    if not findings:
        out.write("no personal information found\n")
        return
    header = ["PATH", "ENTITY", "CATEGORY", "SPI", "PREVIEW"]
    rows = []
    for line, f in findings:
        path = f.path if line is None else f"{line}:{f.path}"
        if f.span is not None:
            path += f"[{f.span[0]}:{f.span[1]}]"
        preview = (f.preview or "").replace("\n", " ")
        if len(preview) > 40:
            preview = preview[:37] + "..."
        rows.append([path, f.entity, f.category, "yes" if f.spi else "no", preview])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    spi = sum(1 for _, f in findings if f.spi)
    out.write(f"{len(findings)} finding(s), {spi} SPI\n")
