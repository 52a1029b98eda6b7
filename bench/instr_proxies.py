"""User-space instructions per request of each proxy, on real sockets, counted by callgrind.

bench/run.sh measures CPU-µs per request, which on this shared 2-core VM moves by 10-40 %
with whatever else runs (and the VM host: nginx alone went from 19.0 to 12.1 µs between
two runs). Instruction counts do not move. This starts an nginx origin (1 KB JSON), then
each proxy under ``valgrind --tool=callgrind`` in turn — nginx (one process, 1 worker
settings of bench/run.sh), the bare uvloop+httptools proxy (bench/ref_proxy.py) and
cpragate passthrough (no filters) — warms it up, zeroes the counters
(``callgrind_control -z``), sends N keep-alive requests through it over C connections,
dumps the counters (``callgrind_control -d``) and reports that window's count / N:
start-up, imports and shutdown are not in it. Kernel time (the syscalls, the same four per request for every proxy) is not
counted, so the ratios here are those of the proxies' own work.

    .venv/bin/python bench/instr_proxies.py                # N=4000, C=8
    .venv/bin/python bench/instr_proxies.py --n 500 --rows nginx,cpragate
    .venv/bin/python bench/instr_proxies.py --rows cpragate --baseline /tmp/base/src  # before/after
    .venv/bin/python bench/instr_proxies.py --tls          # TLS listeners (TLS 1.3, P-256), keep-alive
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from harness import make_body, make_cert  # noqa: E402

SIZE_1K = 1024  # harness.SIZES["1k"]: one customer, as in bench/run.sh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port} after {seconds:.0f} s")


NGINX = """
worker_processes 1; master_process {master}; daemon off; pid {tmp}/{name}.pid;
error_log {tmp}/{name}.error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  {body}
}}
"""


def nginx_conf(tmp: Path, name: str, body: str, master: bool) -> Path:
    p = tmp / f"{name}.conf"
    p.write_text(NGINX.format(tmp=tmp, name=name, body=body, master="on" if master else "off"))
    return p


TLS: dict[str, Any] = {}


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    ctx = TLS.get("client")
    return ctx.wrap_socket(s, server_hostname="localhost") if ctx is not None else s


def drive(port: int, n: int, conns: int) -> None:
    """n GET requests over `conns` keep-alive connections, one outstanding per connection."""
    req = b"GET /v1/customers/42 HTTP/1.1\r\nhost: bench\r\nuser-agent: instr\r\naccept: */*\r\n\r\n"
    socks = [_connect(port) for _ in range(conns)]
    done = 0
    try:
        while done < n:
            batch = socks[: min(conns, n - done)]
            for s in batch:
                s.sendall(req)
            for s in batch:
                _read_response(s)
            done += len(batch)
    finally:
        for s in socks:
            s.close()


def _read_response(s: socket.socket) -> None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed mid-response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"unexpected response: {head[:60]!r}")
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if m is None:
        raise SystemExit("response without content-length")
    need = int(m.group(1)) - len(rest)
    while need > 0:
        chunk = s.recv(need)
        if not chunk:
            raise SystemExit("connection closed mid-body")
        need -= len(chunk)


BASELINE: dict[str, str] = {}
KEEP: dict[str, str] = {}


def proxy_argv(row: str, tmp: Path, port: int, origin: int) -> list[str]:
    cert, key = TLS.get("cert"), TLS.get("key")
    if row == "nginx":
        tls = (
            f"ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache off;"
            if cert
            else ""
        )
        body = (
            f"upstream o {{ server 127.0.0.1:{origin}; keepalive 64; }}\n"
            f"server {{ listen 127.0.0.1:{port} {'ssl' if cert else ''}; {tls} location / {{ proxy_pass http://o; "
            'proxy_http_version 1.1; proxy_set_header Connection ""; } }'
        )
        conf = nginx_conf(tmp, "proxy", body, master=False)
        return ["nginx", "-p", str(tmp), "-e", str(tmp / "proxy.error.log"), "-c", str(conf)]
    if row == "ref":
        argv = [
            sys.executable, str(BENCH / "ref_proxy.py"),
            "--listen", f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{origin}",
        ]
        return argv + (["--cert", str(cert), "--key", str(key)] if cert else [])
    listener = f'{{bind: "127.0.0.1:{port}", tls: {{cert_file: "{cert}", key_file: "{key}"}}}}' if cert else (
        f'{{bind: "127.0.0.1:{port}"}}'
    )
    if row == "cpragate":
        conf = tmp / "cpragate.yaml"
        conf.write_text(
            f'listeners: [{listener}]\n'
            f'upstreams: {{origin: {{url: "http://127.0.0.1:{origin}", allow_plaintext: true}}}}\n'
            'routes: [{path: "/**", upstream: origin, filters: []}]\n'
        )
        return [str(ROOT / ".venv" / "bin" / "cpragate"), "run", "-c", str(conf)]
    if row == "baseline":  # another tree's src/ (with its own build/accel), same config
        conf = tmp / "cpragate.yaml"
        conf.write_text(
            f'listeners: [{listener}]\n'
            f'upstreams: {{origin: {{url: "http://127.0.0.1:{origin}", allow_plaintext: true}}}}\n'
            'routes: [{path: "/**", upstream: origin, filters: []}]\n'
        )
        code = f"import sys; sys.path.insert(0, {BASELINE['src']!r}); from cpragate.cli.main import main; sys.exit(main())"
        return [sys.executable, "-c", code, "run", "-c", str(conf)]
    raise SystemExit(f"unknown row {row!r}")


def count(row: str, tmp: Path, origin: int, n: int, conns: int) -> int:
    """Instructions of the proxy process while it served n requests (after a warm-up)."""
    port = free_port()
    out = tmp / f"cg.{row}.out"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *proxy_argv(row, tmp, port, origin)]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=(tmp / f"{row}.log").open("wb"))
    try:
        wait_port(port, p, 300)
        drive(port, 4 * conns, conns)  # connect, fill the upstream pool, run every path once
        subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True, capture_output=True, timeout=120)
        drive(port, n, conns)
        subprocess.run(["callgrind_control", "-d", str(p.pid)], check=True, capture_output=True, timeout=120)
    finally:
        p.send_signal(signal.SIGQUIT if row == "nginx" else signal.SIGINT)
        try:
            p.wait(120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    dumps = sorted(tmp.glob(f"cg.{row}.out.*"))  # the -d dump; the file without suffix is the rest
    if not dumps:
        raise SystemExit(f"callgrind wrote no dump for {row} (see {tmp}/{row}.log)")
    m = re.search(r"^summary: (\d+)", dumps[0].read_text(errors="replace"), re.M)
    if m is None:
        raise SystemExit(f"no summary in {dumps[0]}")
    if KEEP.get("dir"):  # --keep: the window's dump, for callgrind_annotate
        shutil.copy(dumps[0], Path(KEEP["dir"]) / f"callgrind.{row}.out")
    for f in tmp.glob(f"cg.{row}.out*"):
        f.unlink()
    return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000, help="requests counted (after a warm-up)")
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--rows", default="nginx,ref,cpragate")
    ap.add_argument("--tls", action="store_true", help="TLS on the proxies' listeners (the client reuses no session)")
    ap.add_argument("--quick", action="store_true", help="CI: 20 requests, nginx and cpragate (the harness runs)")
    ap.add_argument("--baseline", metavar="SRC", help="also count cpragate from another tree's src/ (row 'baseline')")
    ap.add_argument("--keep", metavar="DIR", help="copy each row's counted window to DIR/callgrind.<row>.out")
    a = ap.parse_args()
    if a.keep:
        Path(a.keep).mkdir(parents=True, exist_ok=True)
        KEEP["dir"] = str(Path(a.keep).resolve())
    if a.quick:
        a.n, a.conns, a.rows = 20, 2, "nginx,cpragate"
    if a.baseline:
        BASELINE["src"] = str(Path(a.baseline).resolve())
        if "baseline" not in a.rows.split(","):
            a.rows += ",baseline"
    for tool in ("valgrind", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install valgrind nginx-light)")
    tmp = Path(tempfile.mkdtemp(prefix="instr-proxies-"))
    os.chmod(tmp, 0o755)
    if a.tls:
        TLS["cert"], TLS["key"] = make_cert(tmp, tmp / "cert.log")
        for f in (TLS["cert"], TLS["key"]):
            os.chmod(f, 0o644)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        TLS["client"] = ctx
    (tmp / "body.json").write_bytes(make_body(SIZE_1K))
    os.chmod(tmp / "body.json", 0o644)
    origin = free_port()
    body = (
        f"server {{ listen 127.0.0.1:{origin}; location / {{ default_type application/json; "
        f"root {tmp}; try_files /body.json =404; }} }}"
    )
    conf = nginx_conf(tmp, "origin", body, master=True)
    op = subprocess.Popen(["nginx", "-p", str(tmp), "-e", str(tmp / "origin.error.log"), "-c", str(conf)])
    results: dict[str, float] = {}
    try:
        wait_port(origin, op, 10)
        for row in a.rows.split(","):
            c = count(row, tmp, origin, a.n, a.conns)
            results[row] = c / a.n
            print(f"{row:10s} {results[row]:>10,.0f} instructions/request  ({c:,} for {a.n:,} requests)", flush=True)
    finally:
        op.send_signal(signal.SIGQUIT)
        op.wait(30)
    base = results.get("nginx")
    if base:
        for row, v in results.items():
            print(f"{row:10s} ÷ nginx {v / base:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
