"""The speed figures of bench/pii_eval.py and the filter's demo row, for the tree on PYTHONPATH.

Usage (the fourth round's before/after, alternating, each tree with its own compiled build)::

    for i in 1 2; do for t in /path/before /path/after; do
        CPRAGATE_ACCEL_DIR=$t/build/accel PYTHONPATH=$t/src python bench/pii_tree_speed.py
    done; done

Prints one line: scan_json and process_json (mask all) MB/s on the evaluation corpus' 1 KB
and 64 KB documents (pii_eval.py's ``throughput``, 2 s each), then the pii filter's
CPU-µs per response on the demo's 1 KB customer page and on the 1 KB page without personal
data (pii_filter_bench.py's method, best of 3 runs of 0.5 s), and which build ran.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pii_corpus import EVAL_SEED, generate
from pii_eval import speed_docs, throughput
from pii_filter_bench import cpu_per_call, payloads, runners

from cpragate import _accel
from cpragate.pii import Action, ActionRules, Engine


def main() -> None:
    docs = generate(EVAL_SEED, 2000)
    kb1 = speed_docs(docs, 1024)[:300]
    kb64 = speed_docs(docs, 64 * 1024)[:8]
    engine = Engine()
    rules = ActionRules(default=Action.MASK)
    out = []
    for payloads_ in (kb1, kb64):
        out.append(f"scan {throughput(engine.scan_json, payloads_, 2.0):.1f}")
        out.append(f"process {throughput(lambda p: engine.process_json(p, rules), payloads_, 2.0):.1f}")
    with_filter, baseline = runners()
    sets = payloads()
    for label in ("demo 1 KB", "no PII 1 KB"):
        added = cpu_per_call(with_filter, sets[label], 0.5, 3) - cpu_per_call(baseline, sets[label], 0.5, 3)
        out.append(f"filter {label} {added * 1e6:.1f} us")
    print("1 KB / 64 KB MB/s: " + ", ".join(out) + f" [{_accel.status()}]", flush=True)


if __name__ == "__main__":
    main()
