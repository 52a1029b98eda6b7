"""The compiled data plane is used only when built from exactly the current source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cpragate import _accel

PKG = Path(_accel.__file__).resolve().parent


def _fake_build(tmp: Path, **over: object) -> Path:
    mods = {}
    for name in _accel.MODULES:
        rel = name.replace(".", "/") + ".fake.so"
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(b"")
        mods[name] = {"file": rel, "sha256": _accel.module_hash(PKG, name)}
    (tmp / "abc__mypyc.fake.so").write_bytes(b"")
    manifest = {
        "tag": _accel._tag(),
        "cflags": list(_accel.native_cflags()),
        "modules": mods,
        "support": {"abc__mypyc": "abc__mypyc.fake.so"},
    }
    manifest.update(over)
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    return tmp


def test_a_current_build_maps_every_module_and_the_support_library(tmp_path: Path) -> None:
    files, why = _accel.plan(_fake_build(tmp_path), PKG)
    assert files is not None and why == "compiled (mypyc)"
    assert set(files) == {*_accel.MODULES, "abc__mypyc"}


def test_no_build_or_an_unreadable_manifest_means_pure_python(tmp_path: Path) -> None:
    assert _accel.plan(tmp_path, PKG) == (None, "not built (make install compiles it)")
    (tmp_path / "manifest.json").write_text("{not json")
    files, why = _accel.plan(tmp_path, PKG)
    assert files is None and "unreadable" in why


def test_one_edited_source_disables_the_whole_set(tmp_path: Path) -> None:
    build = _fake_build(tmp_path)
    m = json.loads((build / "manifest.json").read_text())
    m["modules"]["cpragate.server.http1"]["sha256"] = "0" * 64
    (build / "manifest.json").write_text(json.dumps(m))
    files, why = _accel.plan(build, PKG)
    assert files is None and why.startswith("stale: http1.py changed")


def test_another_interpreter_or_module_list_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    files, why = _accel.plan(_fake_build(tmp_path / "a", tag="cpython-310-linux"), PKG)
    assert files is None and "built for cpython-310-linux" in why
    build = _fake_build(tmp_path / "b")
    m = json.loads((build / "manifest.json").read_text())
    del m["modules"]["cpragate.core.router"]
    (build / "manifest.json").write_text(json.dumps(m))
    assert _accel.plan(build, PKG)[0] is None
    build = _fake_build(tmp_path / "c")
    (build / "abc__mypyc.fake.so").unlink()
    files, why = _accel.plan(build, PKG)
    assert files is None and "extension missing" in why


def test_an_instrumented_build_is_loaded_by_the_training_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # scripts/build_accel.py builds a group instrumented (beside the real build), runs its
    # training through it with CPRAGATE_PGO_TRAINING=1, then builds it with the profile; an
    # instrumented build is never loaded otherwise.
    monkeypatch.delenv("CPRAGATE_PGO_TRAINING", raising=False)
    files, why = _accel.plan(_fake_build(tmp_path / "a", pgo="generate"), PKG)
    assert files is None and "instrumented" in why
    monkeypatch.setenv("CPRAGATE_PGO_TRAINING", "1")
    files, why = _accel.plan(tmp_path / "a", PKG)
    assert files is not None and why == "compiled (mypyc)"
    monkeypatch.delenv("CPRAGATE_PGO_TRAINING")
    for pgo in ("use", "none"):
        files, why = _accel.plan(_fake_build(tmp_path / pgo, pgo=pgo), PKG)
        assert files is not None and why == "compiled (mypyc)"


def _status(env: dict[str, str]) -> str:
    code = "import cpragate, cpragate._accel as a, cpragate.server.http1 as h; print(a.status()); print(h.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return out.stdout


def test_every_group_names_distinct_existing_modules() -> None:
    seen: set[str] = set()
    for group, modules in _accel.GROUPS.items():
        assert modules and not seen & set(modules), group
        seen |= set(modules)
        for name in modules:
            for src in _accel.module_sources(PKG, name):
                assert src.is_file(), name


def test_a_c_module_is_stale_when_any_of_its_sources_changes(tmp_path: Path) -> None:
    """The native parser's hash covers its own .c and the vendored llhttp it compiles."""
    pkg = tmp_path / "cpragate"
    for rel in _accel.NATIVE["cpragate.server._h1"]:
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_bytes((PKG / rel).read_bytes())
    before = _accel.module_hash(pkg, "cpragate.server._h1")
    assert before == _accel.module_hash(PKG, "cpragate.server._h1")
    (pkg / "_vendor/llhttp/llhttp.c").write_bytes(b"/* edited */")
    assert _accel.module_hash(pkg, "cpragate.server._h1") != before


def test_c_modules_built_with_other_flags_are_refused(tmp_path: Path) -> None:
    """A build made with -msse4.2 is not loaded on a CPU that lacks it (and the reverse
    rebuilds, so a machine that has it gets the faster llhttp)."""
    other = [] if _accel.native_cflags() else ["-msse4.2"]
    files, why = _accel.plan(_fake_build(tmp_path, cflags=other), PKG)
    assert files is None and "flags" in why and "make install rebuilds" in why


def test_native_cflags_follow_the_cpu_flags() -> None:
    assert _accel.native_cflags("processor\t: 0\nflags\t\t: fpu sse2 ssse3 sse4_1 sse4_2 avx2\n") == ("-msse4.2",)
    assert _accel.native_cflags("flags\t\t: fpu sse2 ssse3 sse4_1\n") == ()
    assert _accel.native_cflags("") == ()
    assert _accel.native_cflags() == _accel.native_cflags()  # read once, then remembered


def test_cpragate_pure_turns_it_off() -> None:
    out = _status({"CPRAGATE_PURE": "1"})
    assert out.startswith("dataplane pure Python — off (CPRAGATE_PURE is set)") and "http1.py" in out
    assert "pii_native pure Python — off" in out
    code = "import cpragate.pii.textscan as t, cpragate.pii.engine as e; print(t.NATIVE, e._native_walk)"
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CPRAGATE_PURE": "1"},
                       capture_output=True, text=True, check=True)  # fmt: skip
    assert r.stdout.strip() == "False None"


def test_the_pii_native_scanner_is_hashed_over_its_c_source() -> None:
    assert [p.name for p in _accel.module_sources(PKG, "cpragate.pii._cscan")] == ["_cscan.c"]
    assert _accel.module_hash(PKG, "cpragate.pii._cscan") == _accel.source_hash(PKG / "pii" / "_cscan.c")


def test_the_build_is_used_when_current() -> None:
    """scripts/test builds every group (scripts/lib.sh ensure_accel): in CI all must be in use."""
    for group, modules in _accel.GROUPS.items():
        files, why = _accel.plan(_accel.default_dir(PKG) / group, PKG, modules)
        if files is None:
            if os.environ.get("CI") == "true":
                pytest.fail(f"the compiled {group} modules are not in use in CI: {why}")
            pytest.skip(f"compiled {group} not current here: {why}")
    out = _status({"CPRAGATE_PURE": ""})
    assert out.startswith("dataplane compiled (mypyc); pii compiled (mypyc)"), out
    assert "build/accel/dataplane" in out and out.strip().endswith(".so")


def test_the_protocol_tests_pass_on_the_pure_source_too() -> None:
    """CI runs the suite compiled; the same unit tests of the data plane run on the source."""
    tests = Path(__file__).resolve().parent
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tests / "server" / "test_http1.py"),
            str(tests / "server" / "test_h1parse.py"),
            str(tests / "server" / "test_upstream.py"),
            str(tests / "core"),
        ],
        env={**os.environ, "CPRAGATE_PURE": "1"},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-2000:]
