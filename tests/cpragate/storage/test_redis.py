"""Redis store specifics that need no server; the behaviour runs in tests/contract."""

from cpragate.storage.redis import GCRA_LUA, _split_prefix


def test_prefix_from_url_is_removed_from_the_driver_url() -> None:
    assert _split_prefix("redis://h:1/0?prefix=a&socket_keepalive=true") == ("redis://h:1/0?socket_keepalive=true", "a:")
    assert _split_prefix("redis://h:1/0") == ("redis://h:1/0", "cpragate:")


def test_gcra_script_uses_the_server_clock_and_integer_microseconds() -> None:
    assert "redis.call('TIME')" in GCRA_LUA and "%.0f" in GCRA_LUA
