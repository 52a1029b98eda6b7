from __future__ import annotations

import urllib.request

from cpragate.scanner.canary import Canary


def test_canary_records_requests_by_token() -> None:
    with Canary("127.0.0.1") as c:
        assert c.poll("tok1", wait=0.05) == []
        try:
            urllib.request.urlopen(c.url + "/x/tok1?y=1", timeout=5)
        except urllib.error.HTTPError as e:
            assert e.code == 404
            e.close()
        assert c.poll("tok1", wait=2) == ["/x/tok1?y=1"]
        assert c.poll("tok2", wait=0.05) == []


def test_advertised_host_is_what_the_target_is_told() -> None:
    c = Canary("127.0.0.1", advertise="scanner.ci.internal")
    try:
        assert c.url.startswith("http://scanner.ci.internal:")
    finally:
        c.close()
