"""Instructions of the pii filter's response work on the demo page, counted by callgrind.

The demo policy's ``GET /v1/customers/42`` as the ``support-app`` consumer, answered with
the demo API's 1 KB customer record: every exchange goes through authn, the request
filters and the response filters that run before pii (owner check, conformance,
privacy, minimize: the parsed body they share is then in the exchange, as in the
gateway), outside the counted region; then the pii filter's ``response_now`` runs over
all of them inside ``deque(map(...), maxlen=0)``, whose C helper ``consume_iterator``
nothing else calls, so ``--toggle-collect=consume_iterator`` counts only that. The
same exchanges driven through an empty function are subtracted.

    .venv/bin/python bench/pii_demo_instr.py                 # per-response instructions
    .venv/bin/python bench/pii_demo_instr.py --body bench    # harness.make_body(1024) instead
    .venv/bin/python bench/pii_demo_instr.py --keep /tmp/pd  # also keep the callgrind files
    callgrind_annotate --inclusive=yes /tmp/pd/run.cg | less

``--body bench`` answers with the end-to-end benchmark's 1 KB body
(``harness.make_body(1024)``: one customer whose street is padded to 655 characters,
too long for the street-address value check, so it goes through the free-text scan).

(``PYTHONHASHSEED=0``; the counts repeat to within a few instructions.)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


async def _drive(n: int, mode: str, which: str) -> None:
    from filter_costs import DemoRoute, request_now, response_now
    from harness import make_body

    from cpragate.core.exchange import Exchange
    from cpragate.core.verdict import CONTINUE

    demo = await DemoRoute.open("cpg-pii-demo-instr-")
    chain = demo.chain
    pii = next(f for f in chain if f.name == "pii")
    # The response path runs the chain backwards: the filters after pii in it answer first.
    before = [f for f in reversed(chain[chain.index(pii) + 1 :]) if type(f).implements("on_response")]
    body = make_body(1024) if which == "bench" else None

    def prepare() -> Exchange:
        ex = demo.exchange()
        for f in chain:
            if type(f).implements("on_request"):
                v = request_now(f, ex)
                assert v is CONTINUE, (f.name, v)
        demo.respond(ex, body)
        for f in before:
            v = response_now(f, ex)
            assert v is CONTINUE, (f.name, v)
        return ex

    for _ in range(3):  # warm every cache
        ex = prepare()
        assert pii.response_now(ex) is CONTINUE
    batch = [prepare() for _ in range(n)]

    def nothing(ex: Exchange) -> None:
        return None

    fn = pii.response_now if mode == "run" else nothing
    collections.deque(map(fn, batch), maxlen=0)
    if mode == "run":
        assert batch[0].pii is not None
        print("response filters before pii:", [f.name for f in before], file=sys.stderr)
    await demo.close()


def count(n: int, mode: str, keep: Path | None, which: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = (keep or Path(tmp)) / f"{mode}.cg"
        r = subprocess.run(
            ["valgrind", "--tool=callgrind", "--toggle-collect=consume_iterator", f"--callgrind-out-file={out}",
             sys.executable, __file__, "--body", which, "--inner", str(n), mode],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        if r.returncode != 0:
            raise SystemExit(f"the inner run failed (exit {r.returncode}):\n{r.stderr[-2000:]}")
        m = re.search(rb"^(?:summary|totals):\s*(\d+)", out.read_bytes(), re.M)
        assert m is not None
        return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--keep", type=Path, help="keep run.cg and base.cg in this directory")
    ap.add_argument("--body", choices=("demo", "bench"), default="demo",
                    help="the upstream answer: the demo API's customer (default) or harness.make_body(1024)")
    ap.add_argument("--inner", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        asyncio.run(_drive(int(args.inner[0]), args.inner[1], args.body))
        return 0
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    run = count(args.n, "run", args.keep, args.body)
    base = count(args.n, "base", args.keep, args.body)
    what = "harness.make_body(1024)" if args.body == "bench" else "demo GET /v1/customers/42"
    print(f"pii response_now, {what}: {(run - base) / args.n:.0f} instructions/response")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
