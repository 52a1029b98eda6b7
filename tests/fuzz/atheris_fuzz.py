"""Coverage-guided fuzzing of one target with atheris (libFuzzer for Python).

    python tests/fuzz/atheris_fuzz.py TARGET [--seconds N] [--keep]

TARGET is one of config, path, pii, openapi, json (see targets.py). The kept corpus
(tests/fuzz/corpus/TARGET/) seeds the run; new interesting inputs go to a scratch copy
unless ``--keep`` (then they are added to the kept corpus: commit the useful ones). A crash
leaves ``crash-*`` in the scratch folder and exits 1; reproduce it with
``python tests/fuzz/atheris_fuzz.py TARGET --replay FILE``, fix the owning module, and add
the file to the corpus so test_properties.py replays it forever.

Without atheris (no wheel for this Python), the same time budget goes to a plain
mutation loop over the corpus: weaker, but it still runs every invariant.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repo root: "tests.fuzz.targets"

try:
    import atheris
except ImportError:  # pragma: no cover - depends on the platform's wheels
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["cpragate"]):
        from tests.fuzz.targets import TARGETS
else:
    from tests.fuzz.targets import TARGETS


def _mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        if op == 0 and b:
            del b[rng.randrange(len(b))]
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif op == 2 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 3 and pool:
            other = rng.choice(pool)
            if other:
                i = rng.randrange(len(other))
                b[rng.randrange(len(b) + 1) :] = other[i : i + rng.randint(1, 32)]
        elif op == 4:
            tok = rng.choice([b"%2e", b"%25", b"/..", b"//", b";", b"${CPG_SECRET}", b"[", b"{", b'"', b"\\u0000", b"99999999999999999999"])
            b[rng.randrange(len(b) + 1) : 0] = tok
    return bytes(b)


def _fallback(fn: Callable[[bytes], None], corpus: list[bytes], seconds: float, out: Path) -> int:
    rng = random.Random(0x5EED)
    pool = corpus or [b""]
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        data = _mutate(rng, rng.choice(pool), pool)
        n += 1
        try:
            fn(data)
        except Exception:
            crash = out / f"crash-{n}"
            crash.write_bytes(data)
            print(f"crash after {n} inputs, saved to {crash}", file=sys.stderr)
            raise
    print(f"mutation fallback: {n} inputs in {seconds:.0f} s, no crash")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    ap.add_argument("--keep", action="store_true", help="write new interesting inputs into the kept corpus")
    ap.add_argument("--replay", type=Path, help="run one input (a crash file) and exit")
    args = ap.parse_args()
    fn = TARGETS[args.target]
    if args.replay:
        fn(args.replay.read_bytes())
        print("no crash")
        return 0
    kept = HERE / "corpus" / args.target
    scratch = Path(tempfile.mkdtemp(prefix=f"cpragate-fuzz-{args.target}-"))
    for f in kept.glob("*"):
        shutil.copy(f, scratch / f.name)
    if atheris is None:
        print("atheris is not installed: running the mutation fallback", file=sys.stderr)
        return _fallback(fn, [f.read_bytes() for f in kept.glob("*")], args.seconds, scratch)
    first = kept if args.keep else scratch
    argv = [
        sys.argv[0],
        f"-max_total_time={max(1, int(args.seconds))}",
        f"-artifact_prefix={scratch}{os.sep}",
        "-max_len=4096",
        "-rss_limit_mb=1024",
        "-timeout=10",
        str(first),
        str(kept),
    ]
    atheris.Setup(argv, fn)
    atheris.Fuzz()  # exits the process: 0 when the budget ran out, non-zero on a crash
    return 0


if __name__ == "__main__":
    sys.exit(main())
