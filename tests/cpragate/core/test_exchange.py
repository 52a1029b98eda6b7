from cpragate.core.exchange import Decision, Exchange, TlsInfo
from cpragate.testing import make_request


def test_exchange_defaults_and_decisions() -> None:
    ex = Exchange(make_request(), "r1", client_ip="198.51.100.1")
    assert ex.peer_ip == "198.51.100.1" and ex.outcome == "pending" and ex.identity is None
    ex.decide("authz", "deny", "owner")
    assert ex.decisions == [Decision("authz", "deny", "owner")]
    assert "r1" in repr(ex)


def test_tls_info_is_frozen() -> None:
    t = TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", "CN=partner", ("DNS:partner",))
    assert t.client_subject == "CN=partner"
