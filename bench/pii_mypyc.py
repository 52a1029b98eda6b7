"""What compiling the PII engine with mypyc would give: pure Python vs compiled, one process.

Usage::

    python bench/pii_mypyc.py                    # build (~2 min), check, then time
    python bench/pii_mypyc.py --rounds 5 --min-time 0.5

The working tree's ``src/cpragate`` is copied into a temporary folder as package
``cpragate_native`` (imports rewritten, as bench/pii_speed_ab.py does for old revisions)
and its hot modules (engine, textscan, recognizers, validators, operators, fieldnames)
are compiled with mypyc; everything else stays Python. Both engines then run in the same
process on the same documents, interleaved, best of ``--rounds`` runs of CPU time each,
after a check that they give the same findings, bodies and annotations.

Nothing is installed and the project's build is not changed: whether to ship compiled
wheels is a build decision (a C compiler and mypy at build time), recorded with these
figures in bench/PII_RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

COMPILED = ("engine", "textscan", "recognizers", "validators", "operators", "fieldnames")

SETUP = """
from setuptools import setup
from mypyc.build import mypycify
mods = [f"cpragate_native/pii/{{m}}.py" for m in {mods!r}]
setup(name="cpragate-native-bench", ext_modules=mypycify(mods, opt_level="3"))
"""

MYPY_INI = """[mypy]
python_version = 3.11
plugins = pydantic.mypy
[mypy-httptools,uvloop,faker,faker.*,phonenumbers,phonenumbers.*,hyperscan,opentelemetry.*]
ignore_missing_imports = True
"""


def build(into: Path) -> None:
    """Copy the working tree's package as ``cpragate_native`` and compile its pii modules."""
    dest = into / "cpragate_native"
    shutil.copytree(ROOT / "src" / "cpragate", dest, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    for py in dest.rglob("*.py"):
        text = py.read_text()
        text = re.sub(r"\bcpragate\.(?=[a-z_])", "cpragate_native.", text)
        text = re.sub(r"\bfrom cpragate import\b", "from cpragate_native import", text)
        py.write_text(text)
    (into / "setup.py").write_text(SETUP.format(mods=COMPILED))
    (into / "mypy.ini").write_text(MYPY_INI)
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=into, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"mypyc build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description="PII engine: pure Python vs mypyc-compiled, same process")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    a = ap.parse_args()
    from pii_corpus import EVAL_SEED, TUNE_SEED, generate
    from pii_eval import speed_docs
    from pii_filter_bench import payloads
    from pii_speed_ab import mb_per_s, workloads

    import cpragate.pii as pure

    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        sys.path.insert(0, tmp)
        import cpragate_native.pii as native  # type: ignore[import-not-found]
        import cpragate_native.pii.engine as native_engine  # type: ignore[import-not-found]

        if not str(native_engine.__file__).endswith(".so"):
            sys.exit("the compiled engine did not load")
        differ = same_results(pure, native, [d.json() for seed in (EVAL_SEED, TUNE_SEED) for d in generate(seed, 1000)])
        print(f"pure Python vs mypyc: {differ} of 2000 documents differ")
        docs = generate(EVAL_SEED, 2000)
        extra = payloads()
        corpus = {
            "1k": speed_docs(docs, 1024)[:300],
            "64k": speed_docs(docs, 64 * 1024)[:8],
            "demo": extra["demo 1 KB"],
            "nopii": extra["no PII 1 KB"],
        }
        wp, wn = workloads(pure, corpus), workloads(native, corpus)
        print(f"best of {a.rounds} interleaved runs of >= {a.min_time} s CPU each")
        print("\n| workload | pure Python MB/s | mypyc MB/s | ratio | pure CPU-µs/KB | mypyc CPU-µs/KB |")
        print("|---|---|---|---|---|---|")
        for name in wp:
            rp = rn = 0.0
            for _ in range(a.rounds):
                rp = max(rp, mb_per_s(*wp[name], a.min_time))
                rn = max(rn, mb_per_s(*wn[name], a.min_time))
            print(f"| {name} | {rp:.2f} | {rn:.2f} | {rn / rp:.2f}x | {1024 / rp:.0f} | {1024 / rn:.0f} |")


def same_results(a: Any, b: Any, payloads: list[bytes]) -> int:
    """Documents on which the two engines differ (findings with previews; bodies and
    annotations under two rule sets)."""
    ea, eb = a.Engine(), b.Engine()
    rules = [(m.ActionRules(default=m.Action.MASK), m.ActionRules()) for m in (a, b)]
    differ = 0
    for p in payloads:
        same = [f.to_dict() for f in ea.scan_json(p, previews=True)] == [
            f.to_dict() for f in eb.scan_json(p, previews=True)
        ]
        for ra, rb in zip(*rules, strict=True):
            x, y = ea.process_json(p, ra), eb.process_json(p, rb)
            same = same and x.body == y.body and x.annotations.to_dict() == y.annotations.to_dict()
        differ += not same
    return differ


if __name__ == "__main__":
    main()
