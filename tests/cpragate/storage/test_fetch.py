"""Fetcher rules that need no socket; fetching over real TLS is in tests/e2e/test_identity.py."""

import asyncio

import pytest

from cpragate.errors import StorageError
from cpragate.storage.fetch import HttpFetcher, _safe


def test_only_http_urls() -> None:
    with pytest.raises(StorageError, match="only http"):
        asyncio.run(HttpFetcher().fetch("file:///etc/passwd"))


def test_safe_url_drops_credentials_and_query() -> None:
    assert _safe("https://u:p@idp.example:8443/jwks?token=s") == "https://idp.example:8443/jwks"
