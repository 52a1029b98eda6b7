# The audit writer's event rows in C (_cevents.c), loaded by cpragate._accel while current.
from typing import Any

def build_rows(
    todo: list[tuple[int, Any, Any]], cache: dict[str, tuple[str, float]], instance: str, prev: str, seq: int,
    row_type: type, /
) -> list[Any]: ...
def setup(
    dumps: Any, sha256: Any, hexdigest: Any, slow: Any, init: int, update: int, final: int, /
) -> bool: ...
def sqlite_params(rows: list[Any], instance: str, /) -> Any: ...
