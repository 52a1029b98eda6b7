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
import json, sys
from setuptools import Extension, setup
from mypyc.build import mypycify
job = json.loads(sys.argv[1])
out, tmp = job["out"], job["tmp"]
exts = mypycify(job["py"], opt_level="3", target_dir=tmp + "/c", verbose=False) if job["py"] else []
# A group's functions call each other directly, and may be inlined into each other, instead
# of through the PLT as symbols another library could interpose (nothing does): 1.5 % fewer
# instructions per request on the demo policy's main thread (bench/RESULTS.md, session 13).
for e in exts:
    e.extra_compile_args = [*e.extra_compile_args, "-fno-semantic-interposition"]
for name, sources in job["c"].items():
    exts.append(Extension(name, sources=sources, extra_compile_args=["-O3", *job["cflags"]]))
setup(
    name="cpragate-accel",
    ext_modules=exts,
    script_args=["build_ext", "--build-lib", out, "--build-temp", tmp + "/o"],
)
"""


def build(group: str, modules: tuple[str, ...], force: bool) -> int:
    pkg = SRC / "cpragate"
    out = OUT / group
    files, why = _accel.plan(out, pkg, modules)
    if files is not None and not force:
        print(f"compiled {group}: up to date")
        return 0
    print(f"compiling {group} with mypyc ({why}); a minute or two, once", flush=True)
    paths = [name.replace(".", "/") + ".py" for name in modules if name not in _accel.NATIVE]
    c_sources = {
        name: [str(p.relative_to(SRC)) for p in _accel.module_sources(pkg, name) if p.suffix == ".c"]
        for name in modules
        if name in _accel.NATIVE
    }
    hashes = {name: _accel.module_hash(pkg, name) for name in modules}
    cflags = list(_accel.native_cflags()) if c_sources else []
    OUT.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{group}-", dir=OUT))
    try:
        lib, tmp = stage / "lib", stage / "tmp"
        r = subprocess.run(
            [sys.executable, "-c", SETUP, json.dumps({"py": paths, "c": c_sources, "cflags": cflags, "out": str(lib), "tmp": str(tmp)})],
            cwd=SRC, capture_output=True, text=True,
        )
        if r.returncode != 0:
            tail = "\n".join((r.stdout + r.stderr).splitlines()[-25:])
            print(f"mypyc build of {group} failed; the gateway keeps running its pure-Python source:\n{tail}",
                  file=sys.stderr)
            return 1
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
            print(f"mypyc build of {group} produced no extension for {sorted(missing)}", file=sys.stderr)
            return 1
        # The sources must not have changed while compiling.
        if any(_accel.module_hash(pkg, n) != hashes[n] for n in modules):
            print(f"{group}: sources changed during the build; run it again", file=sys.stderr)
            return 1
        manifest = {"tag": _accel._tag(), "cflags": cflags, "modules": mods, "support": support}
        (lib / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        lib.rename(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(f"compiled {group}: {len(mods)} modules in {out.relative_to(ROOT)}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("groups", nargs="*", help=f"groups to build (default: all of {', '.join(_accel.GROUPS)})")
    a = ap.parse_args()
    groups = a.groups or list(_accel.GROUPS)
    unknown = set(groups) - set(_accel.GROUPS)
    if unknown:
        ap.error(f"unknown group(s) {sorted(unknown)}; known: {', '.join(_accel.GROUPS)}")
    if a.check:
        bad = 0
        for g in groups:
            files, why = _accel.plan(OUT / g, SRC / "cpragate", _accel.GROUPS[g])
            print(f"{g}: {why}")
            bad += files is None
        return 1 if bad else 0
    return max(build(g, _accel.GROUPS[g], a.force) for g in groups)


if __name__ == "__main__":
    raise SystemExit(main())
