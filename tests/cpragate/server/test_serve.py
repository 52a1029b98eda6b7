import logging

from cpragate.server.serve import new_loop, setup_logging


def test_setup_logging_idempotent() -> None:
    setup_logging("warning")
    setup_logging("info")
    root = logging.getLogger()
    assert sum(getattr(h, "_cpragate", False) for h in root.handlers) == 1
    assert root.level == logging.INFO


def test_new_loop_is_uvloop() -> None:
    loop = new_loop()
    try:
        assert "uvloop" in type(loop).__module__
    finally:
        loop.close()
