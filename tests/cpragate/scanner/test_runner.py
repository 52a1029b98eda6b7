from __future__ import annotations

import pytest

from cpragate.openapi import Spec
from cpragate.scanner import runner
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import Burst, CanaryPoll, CheckGen, HttpRequest, HttpResponse, Severity, TlsProbe
from cpragate.testing.scanner import FakeTarget, make_ctx


class _Canary:
    def poll(self, token: str, wait: float = 1.0) -> list[str]:
        return [f"/{token}"] if token == "seen" else []


def test_drive_answers_every_kind_of_probe() -> None:
    got: list[object] = []

    def check() -> CheckGen:
        got.append((yield HttpRequest("GET", "/a")))
        got.append((yield TlsProbe("TLSv1")))
        got.append((yield CanaryPoll("seen", 0)))
        got.append((yield Burst((HttpRequest("GET", "/b"), HttpRequest("GET", "/c")))))

    target = FakeTarget(lambda r: HttpResponse(200 if r.path == "/a" else 204), tls={"TLSv1": True})
    runner.drive(check(), target, _Canary())
    assert got[0] == HttpResponse(200) and got[1] is True and got[2] == ["/seen"]
    assert [r.status for r in got[3]] == [204, 204]  # type: ignore[attr-defined]
    assert [r.path for r in target.sent] == ["/a", "/b", "/c"]


def test_a_failing_check_becomes_a_note_unless_strict(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx: ScanContext) -> CheckGen:
        yield HttpRequest("GET", "/x")
        raise KeyError("bug")

    def finds(ctx: ScanContext) -> CheckGen:
        ctx.report("t", "API8:2023", 1, Severity.LOW, "low", None, "", "fix")
        ctx.report("u", "API8:2023", 1, Severity.HIGH, "high", None, "", "fix")
        yield from ()

    monkeypatch.setattr(runner, "CHECKS", (("discovery", finds), ("auth", boom)))
    target = FakeTarget(lambda r: HttpResponse(404))
    result = runner.run_checks(make_ctx(spec), target)
    assert [f.check for f in result.findings] == ["u", "t"]  # most severe first
    assert result.requests == 1 and any("auth: the check stopped early (KeyError)" in n for n in result.notes)
    with pytest.raises(KeyError):
        runner.run_checks(make_ctx(spec), target, strict=True)
    only = runner.run_checks(make_ctx(spec), target, only=["bola"])
    assert only.checks == ["discovery"]  # discovery always runs; auth was not selected
