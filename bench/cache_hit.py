"""Cache-hit throughput and latency of a proxy next to a bare ASGI app returning the same bytes.

The bare app runs twice: under uvicorn (the usual ASGI server) and under the proxy ports' own HTTP
server (rubberduck.proxy.http11), so the proxy's work can be read against either. All on this machine
in the same run; wrk drives each with the same request at the same concurrency. Prints
requests/second, p50/p99 latency and the proxy/bare ratios. Numbers, not a test.

    .venv/bin/python bench/cache_hit.py [--duration 10] [--connections 32] [--smoke]

`--smoke` runs every step for a second each (the test suite does, so the bench cannot rot). wrk is
Debian's package (`make wrk` installs it); a smoke run without it does everything but the wrk runs.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 2+2?"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def ensure_wrk(install: bool = True) -> str | None:
    found = shutil.which("wrk")
    if found or not install:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def run_wrk(wrk: str, url: str, duration: int, connections: int, script: Path) -> dict[str, float]:
    output = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", output).group(1)) for p in ("50", "99")}  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rps,
        "p50": latency["50"],
        "p99": latency["99"],
        "non2xx": float(errors.group(1)) if errors else 0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk_runs(
    wrk: str, args: argparse.Namespace, script: Path, proxy_url: str, bare_port: int, same_server_port: int
) -> dict[str, dict[str, float]]:
    bare_url = f"http://127.0.0.1:{bare_port}/v1/chat/completions"
    run_wrk(wrk, bare_url, min(2, args.duration), args.connections, script)  # warm-up
    return {
        "bare, uvicorn": run_wrk(wrk, bare_url, args.duration, args.connections, script),
        "bare, proxy server": run_wrk(
            wrk,
            f"http://127.0.0.1:{same_server_port}/v1/chat/completions",
            args.duration,
            args.connections,
            script,
        ),
        "proxy cache hit": run_wrk(wrk, proxy_url, args.duration, args.connections, script),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="every step, 1 s per wrk run, 4 connections")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.connections = 1, 4
    wrk = ensure_wrk(install=not args.smoke)
    results: dict[str, dict[str, float]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="rubberduck-bench-"))
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(REQUEST))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer sk-bench"\n'
    )
    bare_port, same_server_port, server_port = free_port(), free_port(), free_port()
    python = sys.executable
    bare = subprocess.Popen(
        [
            python,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
    )
    # The same bytes from the proxy ports' own HTTP server: what the proxy's work costs on its server.
    same_server = subprocess.Popen([python, "-m", "bench.bare_http11", str(same_server_port)], cwd=ROOT)
    subprocess.run(
        [python, "-m", "rubberduck", "user", "create", "--email", "bench@example.com", "--password",
         "bench-password", "--data-dir", str(workdir / "data")],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    server = subprocess.Popen(
        [
            python,
            "-m",
            "rubberduck",
            "serve",
            "--port",
            str(server_port),
            "--data-dir",
            str(workdir / "data"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{bare_port}/")
        wait_http(f"http://127.0.0.1:{same_server_port}/")
        wait_http(f"http://127.0.0.1:{server_port}/healthz")
        api = httpx.Client(base_url=f"http://127.0.0.1:{server_port}", timeout=30)
        token = api.post(
            "/api/auth/jwt/login", data={"username": "bench@example.com", "password": "bench-password"}
        ).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        proxy = api.post(
            "/api/proxies",
            json={"name": "bench", "provider": "openai", "upstream_url": f"http://127.0.0.1:{bare_port}"},
        ).json()
        api.post(f"/api/proxies/{proxy['id']}/start")
        proxy_url = f"http://127.0.0.1:{proxy['port']}/v1/chat/completions"
        warm = httpx.post(proxy_url, json=REQUEST)
        assert warm.status_code == 200, warm.text
        assert httpx.post(proxy_url, json=REQUEST).headers["x-rubberduck-cache"] == "hit"
        if wrk is not None:
            results = wrk_runs(wrk, args, script, proxy_url, bare_port, same_server_port)
        else:
            print("wrk is not installed (`make wrk` installs it): smoke run without the wrk runs")
        # Every hit is logged: a writer that fell behind would flatter the numbers.
        health = api.get("/healthz").json()
        logs = {"dropped": health["log_rows_dropped"], "queued": health["log_rows_queued"]}
    finally:
        for process in (bare, same_server, server):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"warning: {process.args[2]} did not stop within 30 s; killed", file=sys.stderr)
                process.kill()
    if results:
        print(f"concurrency {args.connections}, {args.duration}s each, wrk -t2, same machine, same run")
        print(f"{'':18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for name, r in results.items():
            print(f"{name:18} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['non2xx']:>8.0f}")
        hit = results["proxy cache hit"]["rps"]
        print(f"throughput ratio proxy/bare (uvicorn): {hit / results['bare, uvicorn']['rps']:.2f}")
        print(f"throughput ratio proxy/bare (proxy server): {hit / results['bare, proxy server']['rps']:.2f}")
    print(
        f"log rows right after the proxy run: {logs['queued']} still queued (a few batches at most), "
        f"{logs['dropped']} dropped (must be 0)"
    )
    return 1 if logs["dropped"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
