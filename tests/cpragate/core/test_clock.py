import pytest

from cpragate.core.clock import FakeClock, SystemClock


def test_fake_clock_advances_both() -> None:
    c = FakeClock(100.0)
    m = c.monotonic()
    c.advance(2.5)
    assert c.time() == 102.5 and c.monotonic() == m + 2.5
    with pytest.raises(ValueError):
        c.advance(-1)


def test_system_clock_moves_forward() -> None:
    c = SystemClock()
    assert c.time() > 1.7e9 and c.monotonic() <= c.monotonic()


def test_readers_are_the_c_functions_for_the_real_clock_and_the_methods_otherwise() -> None:
    import time

    from cpragate.core.clock import readers

    assert readers(SystemClock()) == (time.time, time.monotonic)
    fake = FakeClock()
    now, mono = readers(fake)
    fake.advance(5)
    assert (now(), mono()) == (fake.time(), fake.monotonic())
