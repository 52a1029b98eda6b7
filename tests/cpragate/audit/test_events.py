from cpragate.audit.events import GENESIS, build_event, canonical, decision_of, iso, lookup, pseudonym

K = b"m" * 32


def test_lookup_and_pseudonym_are_keyed_and_stable() -> None:
    a = lookup(K, "42")
    assert a == lookup(K, "42") and a != lookup(b"n" * 32, "42") and len(a) == 32
    assert "42" not in a
    p1, p2 = pseudonym(b"1" * 32, a), pseudonym(b"2" * 32, a)
    assert p1.startswith("s_") and p1 != p2  # a new subject key gives an unlinkable pseudonym


def test_canonical_sorts_keys_and_iso() -> None:
    assert canonical({"b": 1, "a": 2}) == b'{"a":2,"b":1}'
    assert iso(1_767_225_600.5) == "2026-01-01T00:00:00.500Z"
    assert len(GENESIS) == 64


def test_decision_of() -> None:
    assert decision_of("served", []) == ("allow", "")
    assert decision_of("denied", [["authn", "deny", "no-key"]]) == ("deny", "authn:no-key")
    assert decision_of("error", [["gateway", "deny", "upstream-timeout"]]) == ("error", "gateway:upstream-timeout")
    assert decision_of("denied", []) == ("deny", "")


def _begin(lk: str) -> list[object]:
    return ["b", 1_767_225_600.0, "r1", "GET", "/v1/customers/{id}/orders/{oid}", "co",
            [["id", lk], ["oid", "abcdef0123456789ffff"]], [lk], "acme", "api_key", "third_party", "10.0.0.1", True]


def test_build_event_merges_and_pseudonymizes_the_path() -> None:
    lk = lookup(K, "42")
    comp = ["c", 0, 1_767_225_600.2, 200, "served", None, [["pii", "annotate", "found=2"]],
            {"pii": {"categories": {"identifiers": 2}, "spi": 1, "entities": {}, "actions": {}},
             "validation": {"outcome": "valid", "violations": []}},
            None, 12, 345, 200.0]
    ev = build_event(_begin(lk), comp, resolve=lambda s: "s_X", param_token=lambda s: "~" + s[:4])
    assert ev["path"] == "/v1/customers/s_X/orders/~abcd"
    assert ev["subjects"] == ["s_X"] and ev["consumer"] == "acme" and ev["purpose"] == "third_party"
    assert ev["pii"]["categories"] == {"identifiers": 2} and ev["checks"]["validation"]["outcome"] == "valid"
    assert ev["status"] == 200 and ev["decision"] == "allow" and ev["bytes_out"] == 345
    assert "42" not in canonical(ev).decode()


def test_interrupted_event_has_no_completion_fields() -> None:
    ev = build_event(_begin(lookup(K, "7")), None, resolve=lambda s: "s_Y", param_token=lambda s: "~")
    assert ev["outcome"] == "interrupted" and ev["status"] is None and ev["decision"] == "allow"


def test_completion_subjects_are_added_once() -> None:
    lk = lookup(K, "1")
    comp = ["c", 0, 0.0, 200, "served", None, [], None, [lk, "other"], 0, 0, 1.0]
    ev = build_event(_begin(lk), comp, resolve=lambda s: "p" + s[:3], param_token=lambda s: "~")
    assert len(ev["subjects"]) == 2
