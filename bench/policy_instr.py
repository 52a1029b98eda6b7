"""Instructions per request of the policy filters alone (validation, minimize, owner_check,
conformance) under the demo policy, counted by callgrind: repeatable, unlike CPU time.

The whole demo row (bench/instr.py --rows demo) also counts the audit trail's writer
thread, whose wake-ups follow the wall clock, so two runs of it differ by tens of
thousands of instructions on a loaded machine. This drives only the four filters, the
way the pipeline does (``request_now``/``response_now`` where a filter has them, else
the awaited phase), over ``GET /v1/customers/42`` as the demo's ``support-app``,
answered with a 1 KB customer that conforms (``clean``, bench/instr.py's answer) or one
that carries the two properties the spec does not declare (``exposure``, the demo
API's). The same number of exchanges is prepared without running the filters, and
subtracted.

    .venv/bin/python bench/policy_instr.py                     # this tree
    .venv/bin/python bench/policy_instr.py --baseline SRC      # and another src/ tree
    .venv/bin/python bench/policy_instr.py --src SRC           # a snapshot (with its build/accel beside src)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("INSTR_SRC") or str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

MINE = ("validation", "minimize", "owner_check", "conformance")


async def _drive(body_kind: str, n: int, run: bool) -> None:
    from filter_costs import DemoRoute, request_now, response_now
    from harness import make_body

    from cpragate.core.verdict import CONTINUE

    demo = await DemoRoute.open("cpg-policy-instr-")
    body = make_body(1024) if body_kind == "clean" else demo.body
    chain = demo.chain
    authn = next(f for f in chain if f.name == "authn")
    req_filters = [f for f in chain if f.name in MINE and type(f).implements("on_request")]
    resp_filters = [f for f in reversed(chain) if f.name in MINE and type(f).implements("on_response")]
    assert len(req_filters) == 2 and len(resp_filters) == 3, (req_filters, resp_filters)
    for _ in range(n):
        ex = demo.exchange()
        request_now(authn, ex)
        assert ex.identity is not None
        demo.respond(ex, body)
        if not run:
            continue
        for f in req_filters:
            assert request_now(f, ex) is CONTINUE
        for f in resp_filters:
            v = response_now(f, ex)
            assert v is CONTINUE, (f.name, v)
    await demo.close()


def count(body_kind: str, n: int, run: bool, src: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        r = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
             "--inner", body_kind, str(n), "run" if run else "prep"],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0", "INSTR_SRC": src or ""},
        )
        if r.returncode != 0:
            raise SystemExit(f"the inner run failed (exit {r.returncode}):\n{r.stderr[-2000:]}")
        m = re.search(rb"^(?:summary|totals):\s*(\d+)", out.read_bytes(), re.M)
        assert m is not None
        return int(m.group(1))


def per_request(body_kind: str, n: int, src: str | None) -> float:
    run = count(body_kind, 2 * n, True, src) - count(body_kind, n, True, src)
    prep = count(body_kind, 2 * n, False, src) - count(body_kind, n, False, src)
    return (run - prep) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--bodies", nargs="*", default=["clean", "exposure"])
    ap.add_argument("--baseline", metavar="SRC", help="also count another src/ tree")
    ap.add_argument("--src", metavar="SRC", help="count this src/ tree instead of the checkout's (a snapshot)")
    ap.add_argument("--inner", nargs=3, metavar=("BODY", "N", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        body_kind, n, mode = args.inner
        asyncio.run(_drive(body_kind, int(n), mode == "run"))
        return 0
    for body_kind in args.bodies:
        now = per_request(body_kind, args.n, args.src)
        if args.baseline:
            base = per_request(body_kind, args.n, args.baseline)
            print(f"{body_kind:10s} {now:9.0f} instructions/request (baseline {base:.0f}; ratio {now / base:.3f})")
        else:
            print(f"{body_kind:10s} {now:9.0f} instructions/request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
