import random

import orjson

from cpragate.audit import events
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


def test_pseudonym_is_hmac_sha256_of_the_lookup() -> None:
    import hmac

    lk = lookup(K, "42")
    for key in (b"\x00" * 32, bytes(range(32)), b"k" * 64, b"long" * 20, b""):
        want = "s_" + hmac.digest(key, lk.encode("ascii"), "sha256").hex()[:24]
        assert pseudonym(key, lk) == want


def test_iso_milliseconds_and_seconds() -> None:
    assert iso(1_767_225_600.0) == "2026-01-01T00:00:00.000Z"
    assert iso(1_767_225_600.999) == "2026-01-01T00:00:00.999Z"
    assert iso(1_767_225_661.25) == "2026-01-01T00:01:01.250Z"
    assert iso(0.0) == "1970-01-01T00:00:00.000Z"


def test_pair_records_pairs_dedups_and_reports() -> None:
    import orjson

    from cpragate.audit.events import pair_records

    b = ["b", 1.0, "r1", "GET", "/c", "c", [], [], "acme", "api_key", "p", "10.0.0.1", True]
    c = ["c", 10, 2.0, 200, "served", None, [], None, None, 0, 0, 1.0]
    e = ["e", b, c]
    recs = [(10, orjson.dumps(b)), (11, b"{not json"), (12, orjson.dumps(c)), (13, orjson.dumps(e)),
            (14, orjson.dumps(["c", 99, 2.0, 200, "served", None, [], None, None, 0, 0, 1.0])), (15, b"[]"),
            (16, orjson.dumps(b)), (17, orjson.dumps(b)), (18, orjson.dumps(["x"]))]
    pending: dict[int, list[object]] = {}
    todo: list[tuple[int, object, object]] = []
    bad: list[int] = []
    orphans: list[int] = []
    pair_records(recs, pending, {17}, todo, bad, orphans)  # 17: stored (interrupted) by an earlier run
    assert [t[0] for t in todo] == [12, 13, 14]
    assert todo[0][1] == b and todo[0][2] == c and todo[1][1:] == (b, c) and todo[2][1] is None
    assert bad == [11, 15] and orphans == [14] and list(pending) == [16]


def test_build_rows_is_build_event_canonical_and_chained() -> None:
    from cpragate.audit.chain import link_hash
    from cpragate.audit.events import build_rows, missing_subjects, param_token
    from cpragate.storage.audit_sink import EventRow as Row  # the class the writer passes

    lk, lk2 = lookup(K, "42"), lookup(K, "43")
    comp = ["c", 0, 1_767_225_600.2, 422, "denied", None, [["validation", "deny", "type"]],
            {"validation": {"violations": [["/b", "type"]], "outcome": "invalid"},
             "pii": {"entities": {"US_SSN": 1, "EMAIL": 2}, "categories": {"z": 1, "a": 2}, "spi": 1}},
            [lk2, 7], 12, 345, 2.5]
    todo: list[tuple[int, object, object]] = [(5, _begin(lk), comp), (6, _begin(lk), None), (7, None, comp)]
    cache = {lk: ("s_A", 100.0), lk2: ("s_B", 0.0)}
    assert missing_subjects(todo, cache, 100.0, 60.0) == {lk2}
    assert missing_subjects(todo, {}, 0.0, 60.0) == {lk, lk2}
    rows = build_rows(todo, cache, "g-0", GENESIS, 9, Row)
    prev = GENESIS
    for (bkey, b, c), row, seq in zip(todo, rows, (10, 11, 12), strict=True):
        ev = build_event(b, c, resolve=lambda s: cache[s][0] if s in cache else "s_unresolved",  # type: ignore[arg-type]
                         param_token=param_token, instance="g-0", seq=seq)
        assert type(row) is Row and row.body == canonical(ev)
        assert row.hash == link_hash(prev, "g-0", seq, row.body) and row.prev == prev
        assert (row.instance, row.seq, row.bkey, row.ts, row.consumer, row.route, row.decision, row.outcome,
                row.status, row.subjects) == ("g-0", seq, bkey, ev["t"], ev["consumer"], ev["route"], ev["decision"],
                                              ev["outcome"], ev["status"], tuple(ev["subjects"]))
        prev = row.hash
    assert rows[0].subjects == ("s_A", "s_B") and rows[2].subjects == ("s_B",)
    assert '"path":"/v1/customers/s_A/orders/~abcdef0123456789"' in rows[0].body.decode()


def _reference_body(b: object, c: object, cache: dict[str, tuple[str, float]], inst: str, seq: int) -> bytes:
    """The body as the writer made it before session 9: the event dict, its nested objects
    sorted, serialized by orjson (the top level built in sorted key order)."""
    import orjson

    from cpragate.audit.events import param_token

    ev = build_event(b, c, resolve=lambda s: cache[s][0] if s in cache else "s_unresolved",  # type: ignore[arg-type]
                     param_token=param_token, instance=inst, seq=seq)
    for k in ("pii", "checks"):
        if ev[k] is not None:
            ev[k] = orjson.Fragment(orjson.dumps(ev[k], option=orjson.OPT_SORT_KEYS))
    return orjson.dumps(ev)


def _odd(rnd: "random.Random", depth: int = 0) -> object:
    """A value a record may hold, odd ones included (records parsed from a spool are any JSON)."""
    k = rnd.randrange(14)
    strs = ["", "acme", 'q"uote\\back/slash', "ctl\x00\x1f\n\t\x7f", "Zoë ☃ 𝄞", "\u2028\u2029", "a" * 70, "{id}"]
    if k == 0:
        return None
    if k == 1:
        return rnd.choice([True, False])
    if k == 2:
        return rnd.choice([0, -1, 7, 2**63 - 1, -(2**63), 2**64 - 1, 812, 10**12])
    if k == 3:
        return rnd.choice([0.0, -0.0, 0.1 + 0.2, 1e-7, 1e16, 1e15, 12.345, float("nan"), float("inf"), 3.0,
                           1_767_225_600.123456])
    if k in (4, 5, 6, 7):
        return rnd.choice(strs)
    if k in (8, 9) and depth < 2:
        return [_odd(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if k in (10, 11) and depth < 2:
        return {rnd.choice([*strs, "z", "b", "a"]): _odd(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return rnd.choice(strs)


def test_build_rows_bodies_are_the_reference_bytes_for_odd_records() -> None:
    """The body written field by field (no event dict) is byte for byte what serializing the
    event dict gave, for ordinary and odd records (types, escapes, unicode, number edges,
    unsorted nested objects), and fails where that failed (integers beyond 64 bits)."""
    import random

    import orjson

    from cpragate.audit.events import build_rows
    from cpragate.storage.audit_sink import EventRow as Row

    rnd = random.Random(9)
    lks = [lookup(K, str(i)) for i in range(6)]
    cache = {lk: (pseudonym(b"k" * 32, lk), 0.0) for lk in lks[:4]}
    decisions = [["authz", "deny", "scope"], ["pii", "annotate", "found=3"], ["x", "error", ""], ["v", 7, None],
                 ["authn", "allow"]]
    for i in range(3000):
        def pick(*choices: object) -> object:
            return rnd.choice(choices) if rnd.random() < 0.8 else _odd(rnd)

        b = ["b", pick(1_767_225_600.0 + i / 7, 1_767_225_600, 2_000_000_000.9999), pick(f"r{i}", 'r"1'),
             pick("GET", "POST"), pick("/v1/customers/{id}/orders/{oid}", "/v1/c/{id}", None),
             pick("co", None), [["id", rnd.choice(lks)], ["oid", "abcdef0123456789ffff"]][: rnd.randrange(3)],
             [rnd.choice(lks) for _ in range(rnd.randrange(3))], pick("acme", "Zoë ☃", None),
             pick("api_key", "jwt", None), pick("service_provider", None), pick("10.0.0.1", "::1"), pick(True, False, 0, 1)]
        ann: object = pick(None, {"pii": {"entities": {"US_SSN": 1, "EMAIL": 2}, "categories": {"z": 1, "a": 2}, "spi": 1,
                                          "actions": {"mask": 1}}},
                           {"validation": {"violations": [["/b", "type"]], "outcome": "invalid", "stripped": []},
                            "pii": None},
                           {"minimize": {"rule": "r", "response_removed": {"/z": 1, "/a": 2}}, "conformance": {}},
                           {"pii": {"spi": 0}})
        c = ["c", 0, pick(1_767_225_600.2 + i, None), pick(200, 422, None, True), pick("served", "denied", "error",
             "interrupted", ""), pick(None, "CPG-AUD-005"), [rnd.choice(decisions) for _ in range(rnd.randrange(4))],
             ann, pick(None, [rnd.choice(lks), 7]), pick(0, 812, 2**40), pick(812, 0), pick(1.2, 0.1 + 0.2, None, 3)]
        kind = rnd.randrange(6)
        todo: list[tuple[int, object, object]] = [(i, b if kind else None, None if kind == 1 else c)]
        try:
            ref: bytes | type[Exception] = _reference_body(todo[0][1], todo[0][2], cache, "g-0", 41)
        except Exception as e:
            ref = type(e)
        if isinstance(ref, bytes):
            (row,) = build_rows(todo, cache, "g-0", GENESIS, 40, Row)
            assert row.body == ref, i
            ev = orjson.loads(ref)
            assert (row.ts, row.consumer, row.route, row.decision, row.outcome, list(row.subjects)) == (
                ev["t"], ev["consumer"], ev["route"], ev["decision"], ev["outcome"], ev["subjects"]), i
            assert row.status == ev["status"], i
        else:
            try:
                build_rows(todo, cache, "g-0", GENESIS, 40, Row)
            except Exception as e:
                assert isinstance(e, ref), (i, e)
            else:
                raise AssertionError(f"record {i}: the reference failed ({ref.__name__}), build_rows did not")


def test_decisions_json_is_orjsons_for_repeated_and_odd_decisions_across_cache_clears() -> None:
    """Whole decisions' JSON is cached by (filter, outcome, rule): the bytes stay orjson's,
    for repeats, escapes, unicode, lengths other than three, and past the cache's bound."""
    rnd = random.Random(7)
    parts = ["pii", "allow", "deny", 'q"uote', "back\\slash", "ctl\x01\n", "ünï", "\U0001f600", "", "rule=5"]
    for i in range(3 * events._JSON_CACHE_MAX):
        ds = [[rnd.choice(parts) + (str(i) if rnd.random() < 0.5 else "") for _ in range(rnd.choice([3, 3, 3, 2, 4]))]
              for _ in range(rnd.randrange(0, 4))]
        assert events._decisions_json(ds) == orjson.dumps(ds), i
    assert len(events._STRS.decisions) <= events._JSON_CACHE_MAX


def test_paths_with_parameters_filled_in_are_the_plain_replacements_across_cache_clears() -> None:
    rnd = random.Random(11)
    templates = ["/v1/customers/{id}", "/a/{x}/b/{y}", "/{id}/{id}", "/none", "/{weird}}{", ""]
    for i in range(3 * events._JSON_CACHE_MAX):
        t, name = rnd.choice(templates), rnd.choice(["id", "x", "y", "weird", "ü"])
        tok = rnd.choice(["s_abc", "~0123", f"s_{i % 50}"])
        assert events._with_param(t, name, tok) == t.replace("{" + name + "}", tok)
    assert len(events._STRS.paths) <= events._JSON_CACHE_MAX


def test_jv_of_strings_and_small_ints_is_orjsons() -> None:
    """``_jv``'s bytes are orjson's: strings of every code point below 256 (and a few
    beyond), request-id-like strings, integers at the edges of the small-integer table
    and of orjson's range."""
    rnd = random.Random(5)
    chars = [chr(i) for i in range(256)] + ["\u2028", "\U0001f600", "\ufeff"]
    for c in chars:
        for v in (c, "id-" + c, c + c + "x"):
            assert events._jv(v) == orjson.dumps(v), repr(v)
    for _ in range(2000):
        v = "".join(rnd.choice(chars) for _ in range(rnd.randrange(0, 40)))
        assert events._jv(v) == orjson.dumps(v), repr(v)
    assert events._jv("3f9a1c0b2e7d-12345") == b'"3f9a1c0b2e7d-12345"'
    for n in (*range(-3, 5), 2046, 2047, 2048, 2049, 2**63 - 1, -(2**63), 2**64 - 1):
        assert events._jv(n) == orjson.dumps(n), n
    assert events._jv(True) == b"true" and events._jv(None) == b"null" and events._jv(1.5) == b"1.5"
