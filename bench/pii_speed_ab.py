"""Before/after speed of the PII engine in one process: a git revision vs the working tree.

Usage::

    python bench/pii_speed_ab.py                 # vs 455a9b1, the last commit before the speed work
    python bench/pii_speed_ab.py --rev HEAD~3 --rounds 5 --min-time 0.3
    python bench/pii_speed_ab.py --check         # first: same findings and bodies?

The machine is shared and noisy, so both engines run in the same process, interleaved
(A, B, A, B...), and each workload reports the best of ``--rounds`` runs of CPU time
(``time.process_time``): noise only ever adds time. The old revision's ``src/cpragate``
is extracted with ``git archive`` into a temporary folder and imported as
``cpragate_before`` (its absolute imports rewritten), so nothing is installed.

Workloads: the evaluation corpus (bench/pii_corpus.py, eval seed) cut into ~1 KB and
~64 KB documents, as in bench/pii_eval.py, plus the demo API's 1 KB customer page and a
1 KB page without personal data (bench/pii_filter_bench.py).
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

# The last commit before the speed work (issue 5, task 1).
BEFORE = "455a9b1"


def load_before(rev: str, into: Path) -> ModuleType:
    """Extract ``src/cpragate`` at ``rev`` as package ``cpragate_before`` and import its pii."""
    tar = subprocess.run(["git", "archive", rev, "src/cpragate"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        tf.extractall(into, filter="data")
    pkg = into / "src" / "cpragate"
    dest = into / "cpragate_before"
    pkg.rename(dest)
    for py in dest.rglob("*.py"):
        text = py.read_text()
        text = re.sub(r"\bcpragate\.(?=[a-z_])", "cpragate_before.", text)
        text = re.sub(r"\bfrom cpragate import\b", "from cpragate_before import", text)
        py.write_text(text)
    sys.path.insert(0, str(into))
    import cpragate_before.pii as before  # type: ignore[import-not-found]

    return before


def workloads(pii: Any, corpus: dict[str, list[bytes]]) -> dict[str, tuple[Callable[[bytes], Any], list[bytes]]]:
    e = pii.Engine()
    mask_all = pii.ActionRules(default=pii.Action.MASK)
    spi = pii.ActionRules()
    return {
        "scan_json, corpus 1 KB": (e.scan_json, corpus["1k"]),
        "process_json mask all, corpus 1 KB": (lambda p: e.process_json(p, mask_all), corpus["1k"]),
        "process_json mask SPI, corpus 1 KB": (lambda p: e.process_json(p, spi), corpus["1k"]),
        "scan_json, corpus 64 KB": (e.scan_json, corpus["64k"]),
        "process_json mask all, corpus 64 KB": (lambda p: e.process_json(p, mask_all), corpus["64k"]),
        "process_json mask SPI, demo 1 KB": (lambda p: e.process_json(p, spi), corpus["demo"]),
        "process_json mask SPI, no PII 1 KB": (lambda p: e.process_json(p, spi), corpus["nopii"]),
    }


def same_results(before: Any, after: Any) -> tuple[int, int]:
    """(documents, documents that differ): findings with masked previews, and bodies and
    annotations under three rule sets, on 2,000 documents of each seed."""
    from pii_corpus import EVAL_SEED, TUNE_SEED, generate

    ea, eb = before.Engine(), after.Engine()
    rules = [
        (m.ActionRules(default=m.Action.MASK), m.ActionRules(), m.ActionRules(default=m.Action.REDACT))
        for m in (before, after)
    ]
    n = differ = 0
    for seed in (EVAL_SEED, TUNE_SEED):
        for d in generate(seed, 2000):
            p = d.json()
            same = [f.to_dict() for f in ea.scan_json(p, previews=True)] == [
                f.to_dict() for f in eb.scan_json(p, previews=True)
            ]
            for ra, rb in zip(*rules, strict=True):
                a, b = ea.process_json(p, ra), eb.process_json(p, rb)
                same = same and a.body == b.body and a.annotations.to_dict() == b.annotations.to_dict()
            n += 1
            differ += not same
    return n, differ


def mb_per_s(fn: Callable[[bytes], Any], payloads: list[bytes], min_time: float) -> float:
    total = sum(len(p) for p in payloads)
    n = 0
    start = time.process_time()
    while True:
        for p in payloads:
            fn(p)
        n += 1
        el = time.process_time() - start
        if el >= min_time:
            return total * n / el / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description="PII engine speed: a git revision vs the working tree")
    ap.add_argument("--rev", default=BEFORE, help=f"the 'before' revision (default {BEFORE})")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--check", action="store_true", help="compare findings and bodies instead of speed")
    a = ap.parse_args()
    from pii_corpus import EVAL_SEED, generate
    from pii_eval import speed_docs
    from pii_filter_bench import payloads

    import cpragate.pii as after

    docs = generate(EVAL_SEED, 2000)
    extra = payloads()
    corpus = {
        "1k": speed_docs(docs, 1024)[:300],
        "64k": speed_docs(docs, 64 * 1024)[:8],
        "demo": extra["demo 1 KB"],
        "nopii": extra["no PII 1 KB"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        before = load_before(a.rev, Path(tmp))
        if a.check:
            n, differ = same_results(before, after)
            print(f"{a.rev} vs working tree: {differ} of {n} documents differ")
            sys.exit(1 if differ else 0)
        wa, wb = workloads(before, corpus), workloads(after, corpus)
        print(f"before = {a.rev}, after = working tree; best of {a.rounds} interleaved runs of >= {a.min_time} s CPU each")
        print("\n| workload | before MB/s | after MB/s | ratio | before CPU-µs/KB | after CPU-µs/KB |")
        print("|---|---|---|---|---|---|")
        for name in wa:
            ra = rb = 0.0
            for _ in range(a.rounds):
                ra = max(ra, mb_per_s(*wa[name], a.min_time))
                rb = max(rb, mb_per_s(*wb[name], a.min_time))
            print(f"| {name} | {ra:.2f} | {rb:.2f} | {rb / ra:.2f}x | {1024 / ra:.0f} | {1024 / rb:.0f} |")


if __name__ == "__main__":
    main()
