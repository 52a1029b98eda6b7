"""Compile the per-request modules with mypyc into build/accel (see src/cpragate/_accel.py).

    .venv/bin/python scripts/build_accel.py          # build when missing or stale
    .venv/bin/python scripts/build_accel.py --force  # rebuild
    .venv/bin/python scripts/build_accel.py --check  # exit 1 when missing or stale

Never writes into src/: an extension module there would shadow the .py being edited.
The manifest records each source's SHA-256, so an edited file switches the gateway back
to the pure-Python source until the next build, never to stale compiled code.

Profile-guided (GCC): the groups to build are first built instrumented
(``-fprofile-generate``) into build/accel/.pgo, beside the live builds; the gateway's own
request paths run through them (``bench/instr.py --inner ROW N``: the demo policy, the
passthrough route, the default filters, API keys with the rate limiter; fake transports,
no sockets, a few seconds; only these runs load an instrumented build); and, once every
group has left a profile, they are built again with ``-fprofile-use``: branch layout,
inlining and hot/cold splitting follow the measured paths (``-fprofile-partial-training``:
code the training did not run is optimized as without a profile). Same source, same
behaviour; the data-plane group alone: 0.92x the CPU per request under the demo policy
(bench/RESULTS.md, session 13). ``CPRAGATE_PGO=0``, a compiler other than GCC, a training
run that fails or leaves no profile, or a profile-guided build that fails: a plain build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
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
for e in exts:  # the profile's flags (scripts/build_accel.py: pgo), compile and link alike
    e.extra_compile_args = [*e.extra_compile_args, *job["pgo"]]
    e.extra_link_args = [*e.extra_link_args, *job["pgo"]]
setup(
    name="cpragate-accel",
    ext_modules=exts,
    script_args=["build_ext", "--build-lib", out, "--build-temp", tmp + "/o"],
)
"""


def stale(group: str) -> str | None:
    """Why ``group`` must be built, or None when its build is current."""
    files, why = _accel.plan(OUT / group, SRC / "cpragate", _accel.GROUPS[group])
    return None if files is not None else why


def build(group: str, modules: tuple[str, ...], why: str, pgo: list[str], stage_note: str = "",
          dest: Path | None = None) -> int:
    """Build ``group`` into ``dest`` (build/accel/<group>); ``pgo``: the profile flags (none: a plain build)."""
    pkg = SRC / "cpragate"
    out = dest or OUT / group
    print(f"compiling {group} with mypyc{stage_note} ({why}); a minute or two, once", flush=True)
    paths = [name.replace(".", "/") + ".py" for name in modules if name not in _accel.NATIVE]
    c_sources = {
        name: [str(p.relative_to(SRC)) for p in _accel.module_sources(pkg, name) if p.suffix == ".c"]
        for name in modules
        if name in _accel.NATIVE
    }
    hashes = {name: _accel.module_hash(pkg, name) for name in modules}
    cflags = list(_accel.native_cflags()) if c_sources else []
    OUT.mkdir(parents=True, exist_ok=True)
    # A fixed stage: GCC names a profile after its object's path, which must be the same in
    # the instrumented and the final build (a lock keeps two builds of a group apart).
    stage = OUT / f".stage-{group}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        lib, tmp = stage / "lib", stage / "tmp"
        job = {"py": paths, "c": c_sources, "cflags": cflags, "pgo": pgo, "out": str(lib), "tmp": str(tmp)}
        # PYTHONHASHSEED: mypyc's C output follows set orders; the instrumented and the final
        # build must compile the same C for the profile to match it.
        r = subprocess.run([sys.executable, "-c", SETUP, json.dumps(job)], cwd=SRC, capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": "0"})
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
        manifest = {"tag": _accel._tag(), "cflags": cflags, "modules": mods, "support": support,
                    "pgo": "generate" if any(f.startswith("-fprofile-generate") for f in pgo)
                    else "use" if pgo else "none"}
        (lib / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
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
    with _lock():  # the stage and profile paths are shared: one build at a time
        todo: dict[str, str] = {}
        for g in groups:
            reason = "forced" if a.force else stale(g)
            if reason is None:
                print(f"compiled {g}: up to date")
            else:
                todo[g] = reason
        if not todo:
            return 0
        if pgo_wanted() and profile(todo):
            use = [f"-fprofile-use={PROFILE}", "-fprofile-partial-training", "-Wno-missing-profile",
                   "-Wno-error=coverage-mismatch", "-fprofile-correction"]
            rc = 0
            for g in todo:
                if build(g, _accel.GROUPS[g], "with its profile", use, ", profile-guided") != 0:
                    print(f"note: {g}: the profile-guided build failed; building it without a profile", file=sys.stderr)
                    rc = max(rc, build(g, _accel.GROUPS[g], todo[g], []))
            shutil.rmtree(PROFILE, ignore_errors=True)
            return rc
        return max(build(g, _accel.GROUPS[g], why, []) for g, why in todo.items())


PROFILE = OUT / ".profile"
"""Where the instrumented builds write their profile (``.gcda`` files), removed after use."""
TRAIN_DIR = OUT / ".pgo"
"""The instrumented builds, beside (never in place of) the builds the gateway loads."""


def profile(todo: dict[str, str]) -> bool:
    """Build the groups of ``todo`` instrumented into :data:`TRAIN_DIR`, run the training
    through them (with the current builds of the other groups) and say whether a profile
    came out of it; False (after a note) sends the caller to a plain build."""
    shutil.rmtree(PROFILE, ignore_errors=True)
    shutil.rmtree(TRAIN_DIR, ignore_errors=True)
    TRAIN_DIR.mkdir(parents=True)
    gen = [f"-fprofile-generate={PROFILE}", "-fprofile-update=atomic"]  # the writer thread runs compiled code too
    ok = all(
        build(g, _accel.GROUPS[g], why, gen, ", instrumented for its profile", TRAIN_DIR / g) == 0
        for g, why in todo.items()
    )
    if ok:
        for g in _accel.GROUPS:  # the other groups as built (a current build, or none: pure Python)
            if g not in todo and (OUT / g).is_dir():
                (TRAIN_DIR / g).symlink_to(Path("..") / g)
        ok = train()
    if ok:
        # GCC names each profile after its object's path, in the group's fixed stage
        seen = {g for g in todo for f in PROFILE.rglob("*.gcda") if f"/.stage-{g}/" in str(f)}
        if not seen:
            print("note: the training wrote no profile", file=sys.stderr)
            ok = False
        elif seen != set(todo):  # such a group is built as without a profile (-fprofile-partial-training)
            print(f"note: no profile for {', '.join(sorted(set(todo) - seen))}", file=sys.stderr)
    shutil.rmtree(TRAIN_DIR, ignore_errors=True)
    if not ok:
        print("note: no profile for the profile-guided build; building without one", file=sys.stderr)
        shutil.rmtree(PROFILE, ignore_errors=True)
    return ok


TRAINING = (("demo", 3000), ("passthrough", 2000), ("default_filters", 2000), ("api_key+rl_mem", 1000))
"""The training runs (``bench/instr.py --inner ROW N``), the demo policy first and most."""


def pgo_wanted() -> bool:
    """A profile-guided build: asked for (``CPRAGATE_PGO``, default on) and GCC builds the modules."""
    if os.environ.get("CPRAGATE_PGO", "1") == "0" or not (ROOT / "bench" / "instr.py").exists():
        return False
    import sysconfig

    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    try:
        r = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and "clang" not in r.stdout.lower() and ("gcc" in r.stdout.lower() or "free software foundation" in r.stdout.lower())


def train() -> bool:
    """Run the gateway's request paths through the instrumented builds (their profile)."""
    print("training the instrumented build: the demo policy and three plain routes, in-process (seconds)", flush=True)
    # The instrumented builds are loaded from TRAIN_DIR only with CPRAGATE_PGO_TRAINING=1
    # (_accel.plan refuses an instrumented build otherwise).
    env = {**os.environ, "PYTHONHASHSEED": "0", "INSTR_SRC": str(SRC), "CPRAGATE_ACCEL_DIR": str(TRAIN_DIR),
           "CPRAGATE_PGO_TRAINING": "1"}
    env.pop("CPRAGATE_PURE", None)
    for row, n in TRAINING:
        try:
            r = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "instr.py"), "--inner", row, str(n)],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            print(f"training run {row} failed ({type(e).__name__})", file=sys.stderr)
            return False
        if r.returncode != 0:
            tail = "\n".join(r.stderr.splitlines()[-5:])
            print(f"training run {row} failed (exit {r.returncode}):\n{tail}", file=sys.stderr)
            return False
    return True


class _lock:
    """An exclusive lock on build/accel for the whole build (two builds share the stage paths)."""

    def __enter__(self) -> None:
        import fcntl

        OUT.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(OUT / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


if __name__ == "__main__":
    raise SystemExit(main())
