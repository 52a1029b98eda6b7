from cpragate.filters.minimize.report import MinimizeReport


def test_defaults() -> None:
    r = MinimizeReport("purpose:third_party", "enforce")
    assert r.request_removed == {} and r.response_removed == {} and r.skipped == ""
