"""Where the PII engine's instructions go: one workload's measured loop under callgrind.

Usage::

    valgrind --tool=callgrind --toggle-collect=consume_iterator \\
        --callgrind-out-file=/tmp/pii.cg python bench/pii_callgrind.py "dense 1 KB" scan_json 10
    callgrind_annotate --inclusive=yes /tmp/pii.cg | less

(``PYTHONHASHSEED=0``, and ``CPRAGATE_ACCEL_DIR=<tree>/build/accel PYTHONPATH=<tree>/src`` for
another checkout.) Every engine cache is filled first with all three workloads over every
payload of bench/pii_filter_bench.py; then ``reps`` passes of one workload over one payload
run inside ``deque(map(fn, docs), maxlen=0)``, whose C helper ``consume_iterator`` nothing
else calls, so ``--toggle-collect=consume_iterator`` counts exactly those passes. Divide
the total by ``reps`` x documents (100 for "dense 1 KB", 20 for the others).

Workloads: ``scan_json``, ``mask_all`` (process_json, every finding masked), ``mask_spi``
(process_json, default rules).
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pii_filter_bench import payloads

from cpragate import _accel
from cpragate.pii import Action, ActionRules, Engine


def main() -> None:
    name, mode, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sets = payloads()
    e = Engine()
    rules = ActionRules(default=Action.MASK)
    fns = {"scan_json": e.scan_json, "mask_all": lambda p: e.process_json(p, rules), "mask_spi": e.process_json}
    for docs in sets.values():
        for f in fns.values():
            for d in docs:
                f(d)
    print(_accel.status(), file=sys.stderr)
    fn = fns[mode]
    for _ in range(reps):
        collections.deque(map(fn, sets[name]), maxlen=0)


if __name__ == "__main__":
    main()
