"""Every src/cpragate/x/y.py has tests/cpragate/x/test_y.py, and every test file a source.

Like mitmproxy's test/filename_matching.py: exits 1 listing the orphans and what to do.
``__init__.py`` files that define nothing (re-exports, docstrings) are exempt; list deliberate exceptions below.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cpragate"
TESTS = ROOT / "tests" / "cpragate"

# Source modules whose behaviour is tested elsewhere, with the reason.
EXEMPT_SRC: dict[str, str] = {}
EXEMPT_TESTS: set[str] = set()


def main() -> int:
    problems = []
    for src in sorted(SRC.rglob("*.py")):
        rel = src.relative_to(SRC)
        text = src.read_text()
        if src.name == "__init__.py" and "\ndef " not in text and "\nclass " not in text:
            continue  # a re-exporting package marker
        if str(rel) in EXEMPT_SRC:
            continue
        name = "test_init.py" if src.name == "__init__.py" else f"test_{src.name}"
        if not (TESTS / rel.parent / name).exists():
            problems.append(f"missing test: {TESTS.relative_to(ROOT) / rel.parent / name} (for {rel})")
    for test in sorted(TESTS.rglob("test_*.py")):
        rel = test.relative_to(TESTS)
        stem = test.name[len("test_") :]
        # a test may also mirror a hand-written C module (audit/_cevents.c: test__cevents.py)
        cand = [SRC / rel.parent / stem, SRC / rel.parent / stem[:-3] / "__init__.py", SRC / rel.parent / (stem[:-3] + ".c")]
        if stem == "init.py":
            cand.append(SRC / rel.parent / "__init__.py")
        if str(rel) not in EXEMPT_TESTS and not any(c.exists() for c in cand):
            problems.append(f"orphan test: {test.relative_to(ROOT)} has no source module")
    for p in problems:
        print(p)
    if problems:
        print(f"\n{len(problems)} mirror problem(s): add the test (or the module), or list an exemption in {Path(__file__).name}")
        return 1
    print("test mirror: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
