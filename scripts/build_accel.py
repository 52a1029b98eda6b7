"""Compile the per-request modules with mypyc into build/accel (see src/cpragate/_accel.py).

    .venv/bin/python scripts/build_accel.py          # build when missing or stale
    .venv/bin/python scripts/build_accel.py --force  # rebuild
    .venv/bin/python scripts/build_accel.py --check  # exit 1 when missing or stale

Never writes into src/: an extension module there would shadow the .py being edited.
The manifest records each source's SHA-256, so an edited file switches the gateway back
to the pure-Python source until the next build, never to stale compiled code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
OUT = ROOT / "build" / "accel"

sys.path.insert(0, str(SRC))
os.environ["CPRAGATE_PURE"] = "1"  # importing cpragate here must not load the old build

from cpragate import _accel  # noqa: E402

SETUP = r"""
import sys
from setuptools import setup
from mypyc.build import mypycify
paths = sys.argv[1:-2]
out, tmp = sys.argv[-2], sys.argv[-1]
setup(
    name="cpragate-accel",
    ext_modules=mypycify(paths, opt_level="3", target_dir=tmp + "/c", verbose=False),
    script_args=["build_ext", "--build-lib", out, "--build-temp", tmp + "/o"],
)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    pkg = SRC / "cpragate"
    files, why = _accel.plan(OUT, pkg)
    if a.check:
        print(f"compiled data plane: {why}")
        return 0 if files is not None else 1
    if files is not None and not a.force:
        print("compiled data plane: up to date")
        return 0
    print(f"compiling the data plane with mypyc ({why}); about a minute or two, once", flush=True)
    paths = [name.replace(".", "/") + ".py" for name in _accel.MODULES]
    hashes = {name: _accel.source_hash(SRC / p) for name, p in zip(_accel.MODULES, paths, strict=True)}
    stage = Path(tempfile.mkdtemp(prefix="accel-", dir=ROOT / "build" if (ROOT / "build").is_dir() else None))
    try:
        lib, tmp = stage / "lib", stage / "tmp"
        r = subprocess.run(
            [sys.executable, "-c", SETUP, *paths, str(lib), str(tmp)],
            cwd=SRC, capture_output=True, text=True,
        )
        if r.returncode != 0:
            tail = "\n".join((r.stdout + r.stderr).splitlines()[-25:])
            print(f"mypyc build failed; the gateway keeps running the pure-Python source:\n{tail}", file=sys.stderr)
            return 1
        manifest: dict[str, object] = {"tag": _accel._tag(), "modules": {}, "support": {}}
        mods: dict[str, object] = {}
        support: dict[str, str] = {}
        for so in lib.rglob("*.so"):
            rel = so.relative_to(lib)
            name = ".".join((*rel.parts[:-1], rel.name.split(".")[0]))
            if name in hashes:
                mods[name] = {"file": str(rel), "sha256": hashes[name]}
            else:
                support[name] = str(rel)
        missing = set(hashes) - set(mods)
        if missing:
            print(f"mypyc build produced no extension for {sorted(missing)}", file=sys.stderr)
            return 1
        manifest["modules"], manifest["support"] = mods, support
        # The sources must not have changed while compiling.
        if any(_accel.source_hash(SRC / p) != hashes[n] for n, p in zip(_accel.MODULES, paths, strict=True)):
            print("sources changed during the build; run it again", file=sys.stderr)
            return 1
        (lib / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        lib.rename(OUT)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(f"compiled data plane: {len(mods)} modules in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
