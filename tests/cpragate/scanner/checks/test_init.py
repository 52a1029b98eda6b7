from cpragate.scanner.checks import CHECKS, check_names


def test_order_discovery_first_exposure_then_burst_last() -> None:
    names = check_names()
    assert names[0] == "discovery" and names[-1] == "rate-limit" and names[-2] == "exposure"
    assert len(set(names)) == len(names) == len(CHECKS)
