"""Instructions per KB of the PII engine, a git revision vs the working tree (callgrind).

Usage::

    python bench/pii_instructions.py --rev 3e93ded      # ~10 min on a loaded 2-core machine
    python bench/pii_instructions.py --before-tree /path/to/checkout   # both compiled

With ``--before-tree`` the "before" engine is that checkout's ``src`` with its own compiled
build (``build/accel``, used only if current, see src/cpragate/_accel.py), and the "after"
engine this tree's with its build, so two compiled engines are compared.

CPU time on a shared machine moves with the load; instruction counts do not: the same
binary, inputs and environment give the same count whatever else runs (to within a few
instructions here, once both trees are byte-compiled first and the hash seed is fixed with
``PYTHONHASHSEED=0``; a random seed moves a run's total by ~1 %). Each workload runs in a
fresh interpreter under ``valgrind --tool=callgrind`` twice, with 0 and with
``reps`` passes over its documents after the same warm-up (every engine cache filled
for every workload), and the difference is divided by the bytes processed. The old
revision's ``src`` is extracted with ``git archive``; nothing is installed.

Payloads are those of bench/pii_filter_bench.py: the evaluation corpus' ~1 KB documents
(eval seed, ~14 findings per KB), the demo API's 1 KB customer page and a 1 KB catalogue
page without personal data. Needs valgrind (Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

CHILD = """
import sys, orjson
from cpragate.pii import Engine, ActionRules, Action
name, mode, reps, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sets = {k: [d.encode() for d in v] for k, v in orjson.loads(open(data, "rb").read()).items()}
e = Engine()
rules = ActionRules(default=Action.MASK)
fns = {"scan_json": e.scan_json, "process mask all": lambda p: e.process_json(p, rules),
       "process mask SPI": e.process_json}
for docs in sets.values():
    for f in fns.values():
        for d in docs:
            f(d)
f = fns[mode]
for _ in range(reps):
    for d in sets[name]:
        f(d)
"""

# (payload, workload, passes): enough passes that the measured loop dwarfs the run-to-run
# difference of the rest (start-up and warm-up, identical in both runs).
WORKLOADS = [
    ("dense 1 KB", "scan_json", 4),
    ("dense 1 KB", "process mask all", 4),
    ("dense 1 KB", "process mask SPI", 4),
    ("demo 1 KB", "process mask SPI", 16),
    ("no PII 1 KB", "process mask SPI", 16),
]


def instructions(src: Path, child: Path, data: Path, name: str, mode: str, reps: int) -> int:
    env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0",
           "CPRAGATE_ACCEL_DIR": str(src.parent / "build" / "accel")}  # fmt: skip
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         str(child), name, mode, str(reps), str(data)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    m = re.search(r"Collected : (\d+)", out.stderr)
    if m is None:
        sys.exit(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description="PII engine instructions per KB: a revision vs the working tree")
    ap.add_argument("--rev", help="the 'before' git revision (its source, not compiled)")
    ap.add_argument("--before-tree", type=Path, help="a checkout whose src and build/accel are the 'before'")
    a = ap.parse_args()
    if (a.rev is None) == (a.before_tree is None):
        ap.error("give one of --rev and --before-tree")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    from pii_filter_bench import payloads

    sets = {k: [b.decode() for b in v] for k, v in payloads().items() if k != "demo order"}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        data, child = t / "payloads.json", t / "child.py"
        data.write_bytes(orjson.dumps(sets))
        child.write_text(CHILD)
        if a.before_tree is not None:
            before = a.before_tree.resolve() / "src"
        else:
            tar = subprocess.run(["git", "archive", a.rev, "src/cpragate"], cwd=ROOT, capture_output=True, check=True)
            with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as tf:
                tf.extractall(t / "before", filter="data")
            before = t / "before" / "src"
        trees = {"before": before, "after": ROOT / "src"}
        for src in trees.values():  # no run may pay for compiling what another run loads
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True, capture_output=True)
        base = {k: instructions(src, child, data, "dense 1 KB", "scan_json", 0) for k, src in trees.items()}
        print(f"before = {a.rev or a.before_tree}, after = working tree; instructions per KB (thousands), callgrind")
        print("\n| workload | before | after | before/after |")
        print("|---|---|---|---|")
        for name, mode, reps in WORKLOADS:
            kb = sum(len(d.encode()) for d in sets[name]) / 1024
            per = {
                k: (instructions(src, child, data, name, mode, reps) - base[k]) / (reps * kb) / 1000
                for k, src in trees.items()
            }
            print(f"| {mode}, {name} | {per['before']:.0f} | {per['after']:.0f} | {per['before'] / per['after']:.2f}x |")


if __name__ == "__main__":
    main()
