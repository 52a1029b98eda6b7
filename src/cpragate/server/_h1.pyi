# Stub for the C module cpragate.server._h1 (see _h1.c and h1parse.py); built only with the
# compiled data plane, so importing it may fail: use h1parse.parsers().
from collections.abc import Iterable
from typing import Any

class RequestParser:
    def __init__(
        self,
        protocol: Any,
        special: Iterable[bytes] | None = ...,
        unique: Iterable[bytes] | None = ...,
        max_head_bytes: int = ...,
        max_headers: int = ...,
    ) -> None: ...
    def feed_data(self, data: bytes | memoryview) -> bool: ...

class ResponseParser(RequestParser): ...

def join_head(
    head: tuple[bytes | int, ...], items: list[tuple[bytes, bytes]], skip: Any, extra: Any, tail: tuple[bytes | int, ...]
) -> bytes: ...
