"""Injection: SQL and NoSQL probes on query, path and login parameters.

For each successful read recorded during discovery and each string parameter:

* error signatures: the value with a quote appended; an SQL or driver error text in the
  answer (and not in the original) is a finding;
* boolean difference: ``x' OR '1'='1`` must answer like the original or better, while
  ``x' AND '1'='2`` must answer like a harmless change of the value (``xcpgzz``) -- when
  the tautology differs from the harmless change and the contradiction does not, the
  value reached a query;
* NoSQL: ``name[$ne]=`` operators in the query, and ``{"$ne": null}`` objects in a login
  body (an answer with a token is an authentication bypass).
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import quote

from cpragate.scanner import specutil
from cpragate.scanner.context import Recorded, ScanContext
from cpragate.scanner.model import CheckGen, HttpRequest, HttpResponse, Severity

__all__ = ["NAME", "SQL_ERROR", "run"]

NAME = "injection"
OWASP = "API8:2023"
SQL_ERROR = re.compile(
    r"(SQL syntax|syntax error at or near|unterminated quoted string|unrecognized token|near \".{0,20}\": syntax error|"
    r"sqlite3?\.\w*Error|OperationalError|SQLSTATE|ORA-\d{5}|PG::SyntaxError|psycopg|mysql_fetch|MySqlException|"
    r"quoted string not properly terminated|Microsoft OLE DB|ODBC SQL Server|SqlException|MongoError|CastError|"
    r"\$where|BSON|unknown operator: \$)",
    re.I,
)
_FIX = (
    "Use parameterized queries (bound parameters, never string concatenation) and typed ODM queries that reject operator "
    "objects; at the gateway: validate parameters against strict schemas (type, pattern, maxLength)."
)


def _shape(resp: HttpResponse) -> tuple[int, int]:
    doc = resp.json()
    n = len(doc) if isinstance(doc, list) else max((len(v) for v in doc.values() if isinstance(v, list)), default=-1) if isinstance(doc, dict) else -1
    return resp.status, n


def _inputs(rec: Recorded) -> list[tuple[str, str, str]]:
    """(where, name, original value) of string-like inputs of a recorded request."""
    out = [("query", k, v) for k, v in rec.request.query if not v.isdigit()]
    for p in specutil.path_params(rec.op):
        schema: Any = p.schema.schema if p.schema else {}
        if isinstance(schema, dict) and schema.get("type") in ("integer", "number"):
            continue
        out.append(("path", p.name, ""))
    return out


def _variant(ctx: ScanContext, rec: Recorded, where: str, name: str, value: str, *, raw_query: str | None = None) -> HttpRequest:
    req = copy.deepcopy(rec.request)
    if where == "query":
        req.query = [(k, value if k == name else v) for k, v in req.query]
    else:
        segs = rec.op.path.split("/")
        real = req.path[len(ctx.base_path):].split("/")
        for i, s in enumerate(segs):
            if s == "{" + name + "}" and i < len(real):
                real[i] = quote(value, safe="")
        req.path = ctx.base_path + "/".join(real)
    if raw_query is not None:
        req.query = [(k, v) for k, v in req.query if k != name] + [(raw_query, "")]
    return req


def _original(rec: Recorded, where: str, name: str) -> str:
    if where == "query":
        return next((v for k, v in rec.request.query if k == name), "")
    from urllib.parse import unquote

    segs = rec.op.path.split("/")
    real = rec.request.path.split("/")[-len(segs):]
    for s, r in zip(segs, real, strict=False):
        if s == "{" + name + "}":
            return unquote(r)
    return ""


def run(ctx: ScanContext) -> CheckGen:
    seen: set[tuple[str, str]] = set()
    tested = 0
    for rec in list(ctx.recorded):
        if rec.op.method != "GET" or tested >= ctx.options.max_ops_per_check:
            continue
        for where, name, _ in _inputs(rec):
            if (rec.op.path, name) in seen:
                continue
            seen.add((rec.op.path, name))
            tested += 1
            value = _original(rec, where, name) or "a"
            yield from _probe(ctx, rec, where, name, value)
    yield from _login(ctx)
    yield from _bodies(ctx)


def _probe(ctx: ScanContext, rec: Recorded, where: str, name: str, value: str) -> CheckGen:
    base_err = SQL_ERROR.search(rec.response.text())
    for suffix in ("'", '"'):
        req = _variant(ctx, rec, where, name, value + suffix)
        resp = yield req
        m = SQL_ERROR.search(resp.text())
        if m and not base_err:
            ctx.report(
                "sql-injection", "API8:2023", 89, Severity.HIGH, "Input reaches a database query (error-based)", rec.op,
                f"Appending {suffix} to {where} parameter `{name}` produced a database error ({m.group(0)[:40]!r}).",
                _FIX, [(req, resp)], key=name, policy={"strict_param": {where: name}},
            )  # fmt: skip
            return
    control = yield _variant(ctx, rec, where, name, value + "cpgzz")
    true_req = _variant(ctx, rec, where, name, value + "' OR '1'='1")
    true_resp = yield true_req
    false_req = _variant(ctx, rec, where, name, value + "' AND '1'='2")
    false_resp = yield false_req
    if true_resp.ok and _shape(true_resp) != _shape(control) and _shape(false_resp) == _shape(control):
        ctx.report(
            "sql-injection", "API8:2023", 89, Severity.HIGH, "Input reaches a database query (boolean-based)", rec.op,
            f"In {where} parameter `{name}`, a tautology answered {_shape(true_resp)} (status, items) while a contradiction "
            f"and a harmless change both answered {_shape(control)}.",
            _FIX, [(true_req, true_resp, "tautology"), (false_req, false_resp, "contradiction")], key=name,
            policy={"strict_param": {where: name}},
        )  # fmt: skip
        return
    if where == "query":
        nosql = _variant(ctx, rec, where, name, value, raw_query=f"{name}[$ne]")
        resp = yield nosql
        empty = yield _variant(ctx, rec, where, name, "")
        if resp.ok and _shape(resp) != _shape(control) and _shape(resp) != _shape(empty) and _shape(resp)[1] > max(_shape(control)[1], 0):
            ctx.report(
                "nosql-injection", "API8:2023", 943, Severity.HIGH, "Query operators are accepted in parameters", rec.op,
                f"`{name}[$ne]=` returned more items than a plain value: the parameter reaches a NoSQL query as an operator.",
                _FIX, [(nosql, resp)], key=name, policy={"strict_param": {where: name}},
            )  # fmt: skip


def _login(ctx: ScanContext) -> CheckGen:
    for op in [o for o in ctx.spec.operations if specutil.is_login(o)][:1]:
        props = specutil.declared_properties(op)
        uf, pf = specutil.user_field(props), specutil.password_field(props)
        if not uf or not pf:
            continue
        for body, kind, cwe in (
            ({uf: {"$ne": None}, pf: {"$ne": None}}, "nosql-injection", 943),
            ({uf: "' OR '1'='1' -- ", pf: "' OR '1'='1' -- "}, "sql-injection", 89),
        ):
            req = ctx.request(op, {}, json=body)
            if req is None:
                continue
            resp = yield req
            if specutil.logged_in(resp.status, resp.json(), resp.text()):
                ctx.report(
                    kind, "API8:2023", cwe, Severity.CRITICAL, "Login can be bypassed by injection", op,
                    "A login with injected operators instead of a user name and password was answered with a session or token.",
                    _FIX, [(req, resp)], key="login", policy={"strict_param": {"body": uf}},
                )  # fmt: skip
            m = SQL_ERROR.search(resp.text())
            if m and not resp.ok:
                ctx.report(
                    kind, "API8:2023", cwe, Severity.HIGH, "Login input reaches a database query (error-based)", op,
                    f"An injected login body produced a database error ({m.group(0)[:40]!r}).", _FIX, [(req, resp)],
                    key="login-error",
                )  # fmt: skip


def _bodies(ctx: ScanContext) -> CheckGen:
    """String properties of JSON bodies (coupon codes, search filters...): a quote appended
    (SQL error text), and an operator object (``{"$ne": null}``) accepted where a random
    value is refused."""
    ops = [
        op for op in ctx.spec.operations
        if op.method == "POST" and ctx.allowed(op) and not specutil.is_login(op) and not specutil.is_register(op)
        and specutil.body_schema(op) is not None
    ][: ctx.options.max_ops_per_check]  # fmt: skip
    for op in ops:
        props = [k for k, v in specutil.declared_properties(op).items() if v.get("type", "string") == "string" and not v.get("format")]
        ident = ctx.identities[0] if ctx.identities else None
        for name in props[:2]:
            control = ctx.request(op, dict(ctx.subject_values(ident)) if ident else {}, identity=ident)
            if control is None or not isinstance(control.json, dict):
                break
            control.json[name] = "cpgzz" + specutil.marker()
            base = yield control
            quoted = copy.deepcopy(control)
            assert isinstance(quoted.json, dict)
            quoted.json[name] = str(control.json[name]) + "'"
            resp = yield quoted
            m = SQL_ERROR.search(resp.text())
            if m and not SQL_ERROR.search(base.text()):
                ctx.report(
                    "sql-injection", "API8:2023", 89, Severity.HIGH, "Input reaches a database query (error-based)", op,
                    f"A quote in body property `{name}` produced a database error ({m.group(0)[:40]!r}).",
                    _FIX, [(quoted, resp)], key=name, policy={"strict_param": {"body": name}},
                )  # fmt: skip
                continue
            if base.ok:
                continue  # any value is accepted: an operator proves nothing
            op_req = copy.deepcopy(control)
            assert isinstance(op_req.json, dict)
            op_req.json[name] = {"$ne": None}
            resp = yield op_req
            if resp.ok:
                ctx.report(
                    "nosql-injection", "API8:2023", 943, Severity.HIGH, "Query operators are accepted in a JSON body", op,
                    f"Body property `{name}` as {{\"$ne\": null}} was accepted (HTTP {resp.status}) where a random value was "
                    f"refused (HTTP {base.status}): the value reaches a NoSQL query as an operator.",
                    _FIX, [(control, base, "random value"), (op_req, resp, "operator")], key=name,
                    policy={"strict_param": {"body": name}},
                )  # fmt: skip
