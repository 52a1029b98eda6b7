"""Load the YAML config: resolve references, validate, and report EVERY error at once.

Each error names the file, the line, the key path, what is wrong and (in the message)
the fix, e.g.::

    CPG-CFG-001: The configuration is invalid.
      gateway.yaml:14 routes[2].upstream: routes[2] (/v1/x) names upstream 'api2', which is not defined; defined: ['api']

References, resolved before validation:

* ``${NAME}`` anywhere in a string is replaced by the environment variable NAME
  (``${NAME:-default}`` gives a default); a missing variable is an error naming the key.
* A string ``file:/path/to/secret`` is replaced by that file's content (one trailing
  newline removed), so secrets stay out of the config file.

Resolved values are never echoed in error messages: they may be secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from cpragate.config.model import GatewayConfig
from cpragate.config.openapi import Expansion
from cpragate.config.openapi import bind as bind_openapi
from cpragate.config.openapi import expand as expand_openapi
from cpragate.errors import ConfigError, ConfigFileError, ConfigSecretError, CpraGateError

__all__ = ["format_loc", "literal_secrets", "load_config", "load_config_text"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read, resolve and validate a config file; raise ConfigError listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"config file {p} does not exist.", fix="Pass the path of an existing YAML file with -c.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigFileError(f"config file {p} cannot be read ({type(e).__name__}).") from None
    return load_config_text(text, str(p), env=env, base_dir=p.parent)


def load_config_text(
    text: str,
    filename: str = "<config>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> GatewayConfig:
    env = os.environ if env is None else env
    try:
        # Parse once: the node tree gives line numbers for errors, the same tree the data.
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigFileError(f"{where}: {problem}.") from None
    if data is None:
        raise ConfigFileError(f"{filename} is empty.", fix="Start from the example in the README or `cpragate demo`.")
    if not isinstance(data, dict):
        raise ConfigFileError(f"{filename}: the top level must be a mapping of keys (listeners, upstreams, routes, ...).")

    problems: list[str] = []
    secrets: list[str] = []
    data = _resolve(data, (), env, base_dir or Path("."), problems, root, filename, secrets)
    if problems:
        raise ConfigSecretError("unresolved references:\n  " + "\n  ".join(problems))
    try:
        cfg = _validate(data, filename, root, base_dir)
    except CpraGateError as e:
        # A value read from ${ENV} or file: is a secret: messages that quote a refused value
        # ("bind 'xyz' must be HOST:PORT") must not show it, in logs or `config check`.
        scrubbed = _scrub(e.detail, secrets)
        if scrubbed == e.detail:
            raise
        raise type(e)(scrubbed, fix=e.fix_hint) from None
    cfg._literal_secrets = literal_secrets(cfg, secrets)
    return cfg


def literal_secrets(model: BaseModel, referenced: list[str], path: str = "") -> list[str]:
    """Key paths of the secret fields (``SecretStr``) whose value was written in the file
    itself rather than read from ``${ENV}`` or ``file:`` (``referenced``: those values)."""
    out: list[str] = []

    def walk(v: Any, where: str) -> None:
        if isinstance(v, SecretStr):
            text = v.get_secret_value()
            if text and not any(r and r in text for r in referenced):
                out.append(where)
        elif isinstance(v, BaseModel):
            for name in type(v).model_fields:
                walk(getattr(v, name), f"{where}.{name}" if where else name)
        elif isinstance(v, list | tuple):
            for i, x in enumerate(v):
                walk(x, f"{where}[{i}]")
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{where}.{k}")

    walk(model, path)
    return out


def _scrub(text: str, secrets: list[str]) -> str:
    for v in sorted(secrets, key=len, reverse=True):
        if len(v) >= 4:
            text = text.replace(v, "<redacted: from ${ENV} or file:>")
    return text


def _validate(data: Any, filename: str, root: yaml.Node | None, base_dir: Path | None) -> GatewayConfig:
    # Routes from OpenAPI specs (config/openapi.py): expanded before validation, bound after.
    expansion = expand_openapi(data, base_dir or Path("."))
    _raise_located(expansion.problems, filename, root)
    data = expansion.data
    try:
        cfg = GatewayConfig.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors(include_url=False, include_input=False):
            loc = tuple(err["loc"])
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            if msg.startswith("at ") and ": " in msg:
                # Cross-field checks name their own key path ("at routes[2].upstream: ...").
                where_path, msg = msg[3:].split(": ", 1)
                loc = (*loc, *_parse_loc(where_path))
            loc = expansion.origin(loc)
            line = _line_of(root, loc)
            where = f"{filename}:{line}" if line else filename
            if err["type"] == "extra_forbidden":
                msg = "unknown key (typo? see `cpragate config schema` for the allowed keys)"
            elif err["type"] == "missing":
                msg = "required key is missing"
            lines.append(f"{where} {format_loc(loc) or '(top level)'}: {msg}")
        raise ConfigError(
            f"{len(lines)} problem(s) in {filename}:\n  " + "\n  ".join(lines)
        ) from None
    _raise_located(bind_openapi(cfg, base_dir or Path("."), expansion), filename, root)
    _check_runtime(cfg, filename, root, expansion)
    return cfg


def _raise_located(
    problems: list[tuple[tuple[Any, ...], str]], filename: str, root: yaml.Node | None
) -> None:
    """Raise one ConfigError for problems located in the YAML as written."""
    if not problems:
        return
    lines = []
    for loc, msg in problems:
        line = _line_of(root, loc)
        lines.append(f"{f'{filename}:{line}' if line else filename} {format_loc(loc) or '(top level)'}: {msg}")
    raise ConfigError(f"{len(lines)} problem(s) in {filename}:\n  " + "\n  ".join(lines))


def _check_runtime(
    cfg: GatewayConfig, filename: str, root: yaml.Node | None, expansion: Expansion | None = None
) -> None:
    """Checks that need more than one model: route conflicts."""
    from cpragate.core.router import RouteConflict, Router

    r: Router[int] = Router(case_sensitive=cfg.routing.case_sensitive)
    problems = []
    for i, route in enumerate(cfg.routes):
        try:
            r.add(route.path, route.methods, i)
        except RouteConflict as e:
            loc = expansion.origin(("routes", i, "path")) if expansion is not None else ("routes", i, "path")
            line = _line_of(root, loc)
            problems.append(f"{filename}:{line} {format_loc(loc)}: {e}")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {filename}:\n  " + "\n  ".join(problems))


def _parse_loc(text: str) -> tuple[Any, ...]:
    out: list[Any] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(out)


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _resolve(
    v: Any,
    loc: tuple[Any, ...],
    env: Mapping[str, str],
    base: Path,
    problems: list[str],
    root: yaml.Node | None,
    filename: str,
    secrets: list[str],
) -> Any:
    if isinstance(v, dict):
        return {k: _resolve(x, (*loc, k), env, base, problems, root, filename, secrets) for k, x in v.items()}
    if isinstance(v, list):
        return [_resolve(x, (*loc, i), env, base, problems, root, filename, secrets) for i, x in enumerate(v)]
    if not isinstance(v, str):
        return v
    where = f"{filename}:{_line_of(root, loc) or '?'} {format_loc(loc)}"

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            secrets.append(env[name])
            return env[name]
        if default is not None:
            return default
        problems.append(f"{where}: environment variable {name} is not set (set it, or write ${{{name}:-default}})")
        return ""

    if "${" in v:
        v = _ENV.sub(sub, v)
    if v.startswith("file:"):
        fp = Path(v[5:])
        if not fp.is_absolute():
            fp = base / fp
        try:
            v = fp.read_text(encoding="utf-8")
        except OSError as e:
            problems.append(f"{where}: secret file cannot be read ({type(e).__name__}); create it or fix the path")
            return ""
        if v.endswith("\n"):
            v = v[:-1]
        secrets.append(v)
    return v


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node of ``loc`` found in the YAML tree."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, val in node.value:
                if k.value == part:
                    nxt = val
                    line = k.start_mark.line + 1
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
