"""The audit writer's instructions per event at large batches, counted by callgrind.

Fills a spool with N demo-like begin + completion pairs (``audit_bench.fill``), then runs
the writer's loop (``_Shipper.step``: read, pair, pseudonymize, build, chain, SQLite) until
all are stored. Run under callgrind at N and 2N, with and without ``fill`` (the filling
alone), and take the differences:

    for m in ship fill; do for n in 1000 2000; do
      valgrind --tool=callgrind --callgrind-out-file=/tmp/cg-$m-$n .venv/bin/python bench/audit_instr.py $n $m
    done; done
    # per event = ((ship 2N - ship N) - (fill 2N - fill N)) / N

Every event names a new data subject (a key created, a pseudonym computed); a third
argument S cycles through S subjects instead (``1``: the same subject every time, as
in bench/instr.py's demo traffic): ``bench/audit_instr.py 1000 ship 1``.

The records are handed over to the writer in-process (audit_spool.py ``Spool.handed``), as
in a gateway whose writer keeps up: the table is sized for all N here, since the bench
spools everything before it ships. ``ship-parse`` / ``fill-parse``: without the hand-over
(every record parsed from its spool bytes, as after a restart).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit_bench as ab


def main() -> int:
    n = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "ship"
    subjects = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] != "--src" else 5000
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        w = ab.writer(tmp, f"sqlite:///{tmp}/a.db")
        w.spool.handover = 0 if mode.endswith("-parse") else max(w.spool.handover, 2 * n)
        ab.fill(w, n, subjects)
        if mode.startswith("fill"):
            w.spool.close()
            return 0
        sh = w._shipper
        sh.recover()
        while sh.shipped_total < n:
            if not sh.step():
                break
        assert sh.shipped_total == n, sh.shipped_total
        w.spool.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
