"""The sans-IO rule (STYLE §7.1): core/ and filters/ never do I/O or touch the event loop.

Only server/ and the storage backends may import sockets, ssl, asyncio, the HTTP parser
or database drivers. Filters may import the storage Protocols (cpragate.storage.base),
never a backend.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cpragate"
BANNED = {
    "asyncio", "socket", "ssl", "selectors", "threading", "subprocess", "httptools", "uvloop", "httpx",
    "starlette", "uvicorn", "aiohttp", "redis", "sqlite3", "psycopg", "psycopg2", "requests", "urllib.request",
    "cpragate.server", "cpragate.storage.sqlite", "cpragate.storage.redis", "cpragate.storage.postgres",
    "cpragate.cli", "cpragate.demo",
}
SANS_IO = ["core", "filters", "pii", "openapi"]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def sans_io_files() -> list[Path]:
    return sorted(p for pkg in SANS_IO if (SRC / pkg).exists() for p in (SRC / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", sans_io_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_sans_io_packages_do_no_io(path: Path) -> None:
    bad = {m for m in imports(path) if any(m == b or m.startswith(b + ".") for b in BANNED)}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}; move the I/O to server/ or a storage backend"


def test_generated_docs_are_current() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root / "scripts" / "docs.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
