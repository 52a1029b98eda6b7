"""Generate docs/errors.md and docs/configuration.md from the code (they never drift).

    python scripts/docs.py          # rewrite the files
    python scripts/docs.py --check  # exit 1 if they are stale (run by the test suite)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]


def errors_md() -> str:
    from cpragate.errors import all_errors

    out = [
        "# Error codes",
        "",
        "Generated from `src/cpragate/errors.py` by `scripts/docs.py`; `cpragate errors CODE` prints the same.",
        "API clients only ever see the code, the title and the status in an `application/problem+json` body.",
        "",
        "| code | HTTP | cause | fix |",
        "|---|---|---|---|",
    ]
    for cls in all_errors():
        if cls.code == "CPG-000":
            continue
        out.append(f"| `{cls.code}` | {cls.status} | {cls.title} | {cls.fix} |")
    return "\n".join(out) + "\n"


def _type_name(ann: Any) -> str:
    """A short, readable rendering of a type annotation for the reference tables."""
    import enum
    import types
    import typing

    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if ann is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return " | ".join(repr(m.value) for m in ann)
    return getattr(ann, "__name__", str(ann))


def _model(title: str, model: type[BaseModel], out: list[str], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    out += [f"## {title}", "", (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "", ""]
    out += ["| key | type | default | description |", "|---|---|---|---|"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, f in model.model_fields.items():
        dv = None if f.is_required() else f.get_default(call_default_factory=True)
        if f.is_required():
            default = "required"
        elif isinstance(dv, BaseModel):
            default = "(section below)"
        else:
            import enum

            default = repr(dv.value if isinstance(dv, enum.Enum) else dv)
        if len(default) > 60:
            default = default[:57] + "…"
        cells = [f"`{name}`", f"`{_type_name(f.annotation)}`", f"`{default}`", f.description or ""]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        ann = f.annotation
        for cand in (*getattr(ann, "__args__", ()), ann):
            for inner in (*getattr(cand, "__args__", ()), cand):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    nested.append((name if title == "Top level" else f"{title}.{name}", inner))
    out.append("")
    for t, m in nested:
        _model(t, m, out, seen)


def config_md() -> str:
    from cpragate.config.model import GatewayConfig

    out = [
        "# Configuration reference",
        "",
        "Generated from the pydantic models by `scripts/docs.py`. Unknown keys are errors; `cpragate config check FILE`",
        "reports every problem with file:line and key path; `cpragate config schema` prints the JSON Schema for editors.",
        "Any string may use `${ENV_VAR}` (or `${ENV_VAR:-default}`); a string `file:/path` is replaced by that file's",
        "content (for secrets). Relative paths are relative to the working directory.",
        "",
    ]
    _model("Top level", GatewayConfig, out, set())
    return "\n".join(out) + "\n"


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for name, text in (("errors.md", errors_md()), ("configuration.md", config_md())):
        p = ROOT / "docs" / name
        if check:
            if not p.exists() or p.read_text() != text:
                stale.append(name)
        else:
            p.parent.mkdir(exist_ok=True)
            p.write_text(text)
    if stale:
        print(f"stale generated docs: {stale}; run `python scripts/docs.py`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
