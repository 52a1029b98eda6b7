from cpragate.filters.validation.report import ConformanceReport, ValidationReport
from cpragate.openapi import Violation


def test_reports_hold_pointers_and_rules_never_values() -> None:
    v = ValidationReport("createTicket", "monitor", "would_refuse", "CPG-VAL-004", (Violation("/body/role", "privileged"),))
    assert v.violations[0].pointer == "/body/role" and v.outcome == "would_refuse"
    c = ConformanceReport("getCustomer", "enforce", 200)
    assert c.outcome == "conforming" and c.removed == {} and c.violations == ()
