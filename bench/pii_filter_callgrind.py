"""Instructions the pii filter adds to one response: ``PiiFilter.on_response`` under callgrind.

Usage::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --toggle-collect=consume_iterator \\
        --callgrind-out-file=/tmp/f.cg python bench/pii_filter_callgrind.py "demo 1 KB" filter 20
    PYTHONHASHSEED=0 valgrind --tool=callgrind --toggle-collect=consume_iterator \\
        --callgrind-out-file=/tmp/b.cg python bench/pii_filter_callgrind.py "demo 1 KB" baseline 20
    callgrind_annotate --inclusive=yes /tmp/f.cg | less

(``CPRAGATE_ACCEL_DIR=<tree>/build/accel PYTHONPATH=<tree>/src`` for another checkout.)
The runners are bench/pii_filter_bench.py's: ``filter`` builds a Response and an Exchange
and drives ``on_response`` (default config, a ``personal: true`` route), ``baseline``
builds the same and drives an empty coroutine. Every payload goes through the filter once
first (engine caches, per-route plans); then ``reps`` passes over one payload set run
inside ``deque(map(fn, bodies), maxlen=0)``, whose C helper ``consume_iterator`` nothing
else calls, so ``--toggle-collect=consume_iterator`` counts exactly those passes.
Instructions per response = (filter total - baseline total) / (reps x bodies); the
payload sets have 20 bodies each.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pii_filter_bench import payloads, runners

from cpragate import _accel


def main() -> None:
    name, which, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sets = payloads()
    with_filter, baseline = runners()
    for bodies in sets.values():
        for b in bodies:
            with_filter(b)
            baseline(b)
    print(_accel.status(), file=sys.stderr)
    fn = {"filter": with_filter, "baseline": baseline}[which]
    for _ in range(reps):
        collections.deque(map(fn, sets[name]), maxlen=0)


if __name__ == "__main__":
    main()
