"""Scale-out on this machine: one node vs `serve --workers 2`, what Redis adds to a miss, how fast a
config change set on one node takes effect on another.

Everything runs on throw-away Postgres and Redis servers (tests/engines.py: Debian's binaries, free
ports, temp dirs, stopped at the end) against one fake upstream (bench/bare_app.py), in one run:

- cache-hit throughput and latency (wrk, as bench/cache_hit.py drives it) of one node and of
  `serve --workers 2`, both on Postgres + Redis;
- the latency of cache misses (one client, one request after another, each prompt new) on one node
  with SQLite, with Postgres, and with Postgres + Redis: the last two differ by what checking and
  filling Redis adds to a miss (the throw-away Postgres runs with fsync off, as the tests want it:
  read its absolute numbers against SQLite's with that in mind);
- two nodes on one Postgres and Redis (proxies on 127.0.0.1 and 127.0.0.2, same port): a failure
  config injecting 100% 500s is set through A's API and B's proxy port is polled until it answers
  500, then the config is cleared and B polled until it answers 200 again.

    .venv/bin/python bench/cluster.py [--duration 10] [--connections 32] [--misses 300] [--trials 10] [--smoke]

`--smoke` runs every step on tiny sizes (the test suite does, so the bench cannot rot).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages (bench, tests) by name

from tests.engines import PostgresServer, RedisServer, engines_available  # noqa: E402

from bench.cache_hit import REQUEST, ensure_wrk, free_port, run_wrk, wait_http  # noqa: E402

CHAT = "/v1/chat/completions"
PROPAGATION_LIMIT = 10.0  # seconds; past this a change counts as never arriving
PASSWORD = "bench-password"


class Node:
    """`rubberduck serve` (or `serve --workers N`) in its own data dir, its output in a file."""

    def __init__(self, workdir: Path, name: str, env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.workers = workers
        self.data_dir = workdir / name
        self.log = workdir / f"{name}.log"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Node:
        command = [sys.executable, "-m", "rubberduck", "serve", "--port", str(self.port),
                   "--data-dir", str(self.data_dir), "--workers", str(self.workers)]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_http(self.url + "/healthz")
        self.wait_nodes(lambda health: True)
        return self

    def wait_nodes(self, ready: Any, seconds: float = 120) -> None:
        """Until every worker (each its own node in /healthz) has answered `ready(health)` truly."""
        happy: set[str] = set()
        deadline = time.monotonic() + seconds
        while len(happy) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.workers} workers not ready:\n{self.log.read_text()[-3000:]}")
            health = httpx.get(self.url + "/healthz", timeout=10).json()  # a new connection: any worker
            if ready(health):
                happy.add(health.get("node", "the node"))
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                print(f"warning: {self.log.name} did not stop within 60 s; killed", file=sys.stderr)
                self.process.kill()
                self.process.wait()


def environment(**settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("RUBBERDUCK_")}
    return {**env, "RUBBERDUCK_REGISTRATION": "open", "RUBBERDUCK_REQUIRE_VERIFICATION": "false",
            "RUBBERDUCK_FIRST_PROXY_PORT": str(free_port()), **settings}  # fmt: skip


def owner(url: str) -> httpx.Client:
    """The first account on a fresh database (it may register whatever the policy), logged in."""
    api = httpx.Client(base_url=url, timeout=30)
    account = {"email": "bench@example.com", "password": PASSWORD}
    assert api.post("/api/auth/register", json=account).status_code == 201
    login = api.post("/api/auth/jwt/login", data={"username": account["email"], "password": PASSWORD})
    api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return api


def running_proxy(api: httpx.Client, upstream: str) -> dict[str, Any]:
    proxy: dict[str, Any] = api.post(
        "/api/proxies", json={"name": "bench", "provider": "openai", "upstream_url": upstream}
    ).json()
    started = api.post(f"/api/proxies/{proxy['id']}/start").json()
    assert started["status"] == "running", started
    return proxy


Numbers = dict[str, float]


def measure(
    node: Node, upstream: str, args: argparse.Namespace, hits: bool, misses: bool
) -> tuple[Numbers, Numbers]:
    """Start the node, one proxy on it, then cache-hit throughput (wrk) and/or miss latency; stop it."""
    node.start()
    try:
        proxy = running_proxy(owner(node.url), upstream)
        node.wait_nodes(lambda health: health["running_proxies"] >= 1, 30)  # started in every worker
        url = f"http://127.0.0.1:{proxy['port']}{CHAT}"
        throughput: Numbers = {}
        if hits and args.wrk is not None:
            for _ in range(8 * node.workers):  # new connections: every worker sees the entry once
                assert httpx.post(url, json=REQUEST, timeout=30).status_code == 200
            run_wrk(args.wrk, url, min(2, args.duration), args.connections, args.script)  # warm-up
            throughput = run_wrk(args.wrk, url, args.duration, args.connections, args.script)
        return throughput, miss_latency(url, args.misses) if misses else {}
    finally:
        node.stop()


def miss_latency(url: str, misses: int) -> Numbers:
    """One client, one request after another, each prompt new: every one a miss that goes upstream."""
    client = httpx.Client(timeout=30)
    times = []
    for number in range(misses + 5):
        body = {**REQUEST, "messages": [{"role": "user", "content": f"miss {number} {time.time_ns()}"}]}
        started = time.perf_counter()
        response = client.post(url, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200 and response.headers["x-rubberduck-cache"] == "miss"
        if number >= 5:  # the first few warm the connection and the code paths
            times.append(elapsed)
    times.sort()
    return {"p50": times[len(times) // 2], "p99": times[min(len(times) - 1, len(times) * 99 // 100)],
            "mean": statistics.fmean(times)}  # fmt: skip


def until_status(client: httpx.Client, status: int, since: float) -> float:
    """Seconds from `since` until the proxy answers `status` (inf if not within the limit)."""
    while time.perf_counter() - since < PROPAGATION_LIMIT:
        try:
            if client.post(CHAT, json=REQUEST).status_code == status:
                return time.perf_counter() - since
        except httpx.TransportError:  # not listening (yet)
            time.sleep(0.005)
    return float("inf")


def propagation(
    workdir: Path, postgres: PostgresServer, redis: str, upstream: str, trials: int
) -> dict[str, list[float]]:
    shared = {"RUBBERDUCK_DATABASE_URL": postgres.database(), "RUBBERDUCK_REDIS_URL": redis}
    env = environment(**shared)
    a = Node(workdir, "node-a", {**env, "RUBBERDUCK_PROXY_HOST": "127.0.0.1"}).start()
    b = Node(workdir, "node-b", {**env, "RUBBERDUCK_PROXY_HOST": "127.0.0.2"})
    results: dict[str, list[float]] = {"proxy start": [], "failure config set": [], "cleared": [], "PUT": []}
    try:
        b.start()
        api = owner(a.url)
        started = time.perf_counter()
        proxy = running_proxy(api, upstream)
        on_b = httpx.Client(base_url=f"http://127.0.0.2:{proxy['port']}", timeout=5)
        results["proxy start"].append(until_status(on_b, 200, started))  # B starts what A started
        failure = f"/api/proxies/{proxy['id']}/failure"
        for _ in range(trials):
            since = time.perf_counter()
            assert api.put(failure, json={"errors": [{"status": 500, "rate": 1.0}]}).status_code == 200
            results["PUT"].append(time.perf_counter() - since)
            results["failure config set"].append(until_status(on_b, 500, since))
            since = time.perf_counter()
            assert api.put(failure, json={}).status_code == 200
            results["cleared"].append(until_status(on_b, 200, since))
    finally:
        b.stop()
        a.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--misses", type=int, default=300)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="every step on tiny sizes, 1 s per wrk run")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.connections, args.misses, args.trials = 1, 4, 10, 1
    missing = engines_available()
    if missing:
        print(f"not installed: {missing} (`make engines` installs them); nothing measured")
        return 0
    wrk = args.wrk = ensure_wrk(install=not args.smoke)
    if wrk is None:
        print("wrk is not installed (`make wrk` installs it): no throughput runs")
    workdir = Path(tempfile.mkdtemp(prefix="rubberduck-cluster-bench-"))
    args.script = workdir / "post.lua"
    args.script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(REQUEST))}\n'
        'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer sk-bench"\n'
    )
    bare_port = free_port()
    upstream = f"http://127.0.0.1:{bare_port}"
    bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port),
                             "--log-level", "warning", "--no-access-log"], cwd=ROOT)  # fmt: skip
    postgres = PostgresServer().start()
    redis = RedisServer().start()
    base = redis.url.rsplit("/", 1)[0]  # one Redis DB number per deployment: they never share keys

    def cluster_env(db: int) -> dict[str, str]:
        return environment(RUBBERDUCK_DATABASE_URL=postgres.database(), RUBBERDUCK_REDIS_URL=f"{base}/{db}")

    try:
        wait_http(upstream)
        one = Node(workdir, "one", cluster_env(1))
        hits_one, miss_redis = measure(one, upstream, args, hits=True, misses=True)
        two = Node(workdir, "two", cluster_env(2), workers=2)
        hits_two, _ = measure(two, upstream, args, hits=True, misses=False)
        pg_only = environment(RUBBERDUCK_DATABASE_URL=postgres.database())
        _, miss_postgres = measure(
            Node(workdir, "postgres", pg_only), upstream, args, hits=False, misses=True
        )
        _, miss_sqlite = measure(
            Node(workdir, "sqlite", environment()), upstream, args, hits=False, misses=True
        )
        hits = {"1 node": hits_one, "--workers 2": hits_two}
        misses = {"SQLite": miss_sqlite, "Postgres": miss_postgres, "Postgres + Redis": miss_redis}
        travel = propagation(workdir, postgres, f"{base}/4", upstream, args.trials)
    finally:
        bare.terminate()
        bare.wait(timeout=30)
        redis.destroy()
        postgres.destroy()
    return report(args, hits, misses, travel)


def report(
    args: argparse.Namespace,
    hits: dict[str, Numbers],
    misses: dict[str, Numbers],
    travel: dict[str, list[float]],
) -> int:
    if all(hits.values()):
        print(
            f"cache hits on Postgres + Redis: wrk -t2 -c{args.connections} {args.duration}s, {os.cpu_count()} cores"
        )
        print(f"{'':14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for name, r in hits.items():
            print(f"{name:14} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['non2xx']:>8.0f}")
        print(
            f"throughput ratio --workers 2 / 1 node: {hits['--workers 2']['rps'] / hits['1 node']['rps']:.2f}"
        )
    print(f"cache misses, one client, {args.misses} sequential requests to a local upstream")
    print(f"{'':18} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, m in misses.items():
        print(f"{name:18} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['mean']:>8.2f}")
    for name in ("p50", "mean"):
        added = misses["Postgres + Redis"][name] - misses["Postgres"][name]
        print(f"added latency of a miss with Redis ({name}, vs Postgres alone): {added:+.2f} ms")
    print(f"config change through node A, seen on node B's proxy port ({len(travel['PUT'])} trials)")
    print(f"{'':20} {'median ms':>10} {'max ms':>10}")
    for name, seconds in travel.items():
        print(f"{name:20} {statistics.median(seconds) * 1000:>10.1f} {max(seconds) * 1000:>10.1f}")
    late = [name for name, seconds in travel.items() if max(seconds) > PROPAGATION_LIMIT]
    if late:
        print(f"never arrived within {PROPAGATION_LIMIT:.0f} s: {', '.join(late)}")
    return 1 if late else 0


if __name__ == "__main__":
    raise SystemExit(main())
