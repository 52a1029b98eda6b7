from cpragate.scanner.checks import CHECKS, check_names


def test_order_discovery_first_exposure_then_burst_last() -> None:
    names = check_names()
    assert names[0] == "discovery" and names[-1] == "rate-limit" and names[-2] == "exposure"
    assert len(set(names)) == len(names) == len(CHECKS)


def test_checks_are_sans_io() -> None:
    """STYLE §7.1: a check builds requests and judges answers; the runner does the sending."""
    import ast
    from pathlib import Path

    import cpragate.scanner.checks as pkg

    banned = ("asyncio", "socket", "ssl", "httpx", "threading", "subprocess", "urllib.request", "requests", "cpragate.scanner.transport",
              "cpragate.scanner.canary", "cpragate.server")  # fmt: skip
    for path in Path(pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        bad = {m for m in names if any(m == b or m.startswith(b + ".") for b in banned)}
        assert not bad, f"{path.name} imports {sorted(bad)}"
