"""The cached keyed HMAC gives exactly hmac.digest's bytes, for any key and message."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpragate.core import keyed
from cpragate.core.keyed import hmac_sha256


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_same_as_one_shot_hmac(key: bytes, msg: bytes) -> None:
    assert hmac_sha256(key, msg) == hmac.digest(key, msg, hashlib.sha256)


def test_reusing_a_key_does_not_carry_state_between_messages() -> None:
    k = b"secret"
    first = hmac_sha256(k, b"a")
    assert hmac_sha256(k, b"b") == hmac.digest(k, b"b", hashlib.sha256)
    assert hmac_sha256(k, b"a") == first


def test_the_cache_stays_bounded() -> None:
    for i in range(100):
        hmac_sha256(b"k%d" % i, b"m")
    assert len(keyed._keyed) <= keyed._MAX_KEYS


@pytest.mark.parametrize("key_len", [0, 1, 63, 64, 65, 128, 200])
@pytest.mark.parametrize("msg_len", [0, 55, 56, 64, 119, 2047, 2048, 5000])
def test_block_size_edges_of_key_and_message(key_len: int, msg_len: int) -> None:
    # keys beyond SHA-256's 64-byte block are hashed first; messages cross padding blocks
    key, msg = bytes(range(key_len % 256)) * (key_len // 256) + bytes(range(key_len % 256)), b"m" * msg_len
    assert hmac_sha256(key, msg) == hmac.digest(key, msg, hashlib.sha256)
