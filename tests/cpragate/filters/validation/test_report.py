from cpragate.filters.validation.report import ConformanceReport, ValidationReport
from cpragate.openapi import Violation


def test_reports_hold_pointers_and_rules_never_values() -> None:
    v = ValidationReport("createTicket", "monitor", "would_refuse", "CPG-VAL-004", (Violation("/body/role", "privileged"),))
    assert v.violations[0].pointer == "/body/role" and v.outcome == "would_refuse"
    c = ConformanceReport("getCustomer", "enforce", 200)
    assert c.outcome == "conforming" and c.removed == {} and c.violations == ()


def test_reports_compare_and_print_like_dataclasses() -> None:
    a = ConformanceReport("getCustomer", "enforce", 200, removed={"/x": 1})
    assert a == ConformanceReport("getCustomer", "enforce", 200, "conforming", {"/x": 1})
    assert a != ConformanceReport("getCustomer", "enforce", 201, removed={"/x": 1})
    assert a != ValidationReport("getCustomer", "enforce")
    assert repr(a) == ("ConformanceReport(operation='getCustomer', mode='enforce', status=200, outcome='conforming', "
                       "removed={'/x': 1}, violations=(), reason='')")  # fmt: skip
    b, c = ConformanceReport("o", "monitor", 200), ConformanceReport("o", "monitor", 200)
    b.removed["/y"] = 2
    assert c.removed == {}  # each report has its own dict
    v = ValidationReport("createTicket", "enforce", stripped=("/role",))
    assert v.outcome == "valid" and v.code is None and v.stripped == ("/role",) and v.violations == ()
    v.outcome = "stripped"
    assert repr(v).startswith("ValidationReport(operation='createTicket', mode='enforce', outcome='stripped'")
