from cpragate.audit.dsar import dsar_html, dsar_report


def ev(consumer: str | None, purpose: str, status: int, cats: dict[str, int], ts: str, outcome: str = "served") -> dict[str, object]:
    return {"consumer": consumer, "purpose": purpose, "status": status, "outcome": outcome, "ts": ts, "method": "GET",
            "route": "/v1/customers/{id}", "personal": True, "pii": {"categories": cats, "spi": 1}}


def test_report_groups_recipients_and_excludes_refusals() -> None:
    events = [
        ev("acme", "service_provider", 200, {"identifiers": 2}, "2026-01-02T00:00:00.000Z"),
        ev("acme", "service_provider", 200, {"identifiers": 1, "commercial": 1}, "2026-01-01T00:00:00.000Z"),
        ev("broker", "third_party", 403, {}, "2026-01-03T00:00:00.000Z", "denied"),
        ev(None, "third_party", 200, {}, "2026-01-04T00:00:00.000Z"),
    ]
    rep = dsar_report(events, subject="42", pseudonym="s_x", since="a", until="b", generated="c")
    assert rep["events"] == 4 and rep["disclosures"] == 3 and rep["refused_requests"] == 1
    acme = rep["recipients"][0]
    assert (acme["consumer"], acme["requests"], acme["categories"]) == ("acme", 2, {"identifiers": 3, "commercial": 1})
    assert acme["first"] == "2026-01-01T00:00:00.000Z" and acme["last"] == "2026-01-02T00:00:00.000Z"
    assert [r["consumer"] for r in rep["recipients"]] == ["acme", "(unauthenticated)"]
    assert "broker" not in str(rep["recipients"])


def test_html_escapes() -> None:
    rep = dsar_report([ev("<script>", "third_party", 200, {"a&b": 1}, "t")], subject="<42>", pseudonym=None,
                      since="s", until="u", generated="g")
    page = dsar_html(rep)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;42&gt;" in page
    assert "No personal information" in dsar_html(dsar_report([], subject="1", pseudonym=None, since="s", until="u", generated="g"))
