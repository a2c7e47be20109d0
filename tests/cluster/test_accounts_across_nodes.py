"""Accounts across nodes: one login works everywhere, a logout ends it everywhere, users stay apart."""

from __future__ import annotations

import httpx

from tests.cluster.nodes import Cluster
from tests.fakes.upstream import FakeUpstream
from tests.support import Api


def test_a_token_from_node_a_works_on_node_b_and_logout_on_a_revokes_it_on_b(cluster: Cluster) -> None:
    on_a, on_b = cluster.users()
    me_a, me_b = on_a.http.get("/api/users/me"), on_b.http.get("/api/users/me")
    assert me_a.status_code == me_b.status_code == 200, (me_a.text, me_b.text)
    assert me_b.json()["id"] == me_a.json()["id"]
    assert on_b.http.get("/api/proxies").status_code == 200

    logout = on_a.http.post("/api/auth/jwt/logout")
    assert logout.status_code in (200, 204), logout.text
    assert on_b.http.get("/api/users/me").status_code == 401  # at once: the revocation is in the database
    assert on_a.http.get("/api/users/me").status_code == 401


def test_a_token_signed_with_another_key_is_refused_on_both_nodes(cluster: Cluster) -> None:
    on_a, _ = cluster.users()
    token = str(on_a.http.headers["authorization"]).removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"  # the same claims, a signature no node made
    for node in cluster.nodes:
        response = httpx.get(node.url + "/api/users/me", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401, node.host


def test_user_2_on_node_b_can_neither_see_nor_touch_user_1s_proxy_made_on_a(
    cluster: Cluster, fake: FakeUpstream
) -> None:
    owner_a, owner_b = cluster.users()
    proxy = cluster.running_proxy(owner_a, "openai", fake.url)
    pid = proxy["id"]
    other_a, other_b = cluster.users()

    listing = owner_b.http.get("/api/proxies")  # the owner sees it on B
    assert listing.status_code == 200 and [p["id"] for p in listing.json()] == [pid], listing.text
    assert other_b.http.get("/api/proxies").json() == []
    for method, path, body in [
        ("GET", f"/api/proxies/{pid}", None),
        ("PATCH", f"/api/proxies/{pid}", {"name": "taken over"}),
        ("POST", f"/api/proxies/{pid}/stop", None),
        ("POST", f"/api/proxies/{pid}/start", None),
        ("GET", f"/api/proxies/{pid}/failure", None),
        ("PUT", f"/api/proxies/{pid}/failure", {"errors": [{"status": 500, "rate": 1.0}]}),
        ("GET", f"/api/proxies/{pid}/cache", None),
        ("DELETE", f"/api/proxies/{pid}/cache", None),
        ("POST", f"/api/proxies/{pid}/cache/rewind", None),
        ("GET", "/api/metrics", None),
        ("DELETE", f"/api/proxies/{pid}", None),
    ]:
        params = {"proxy_id": pid} if path == "/api/metrics" else None
        for other in (other_b, other_a):
            response = other.http.request(method, path, json=body, params=params)
            assert response.status_code == 404, (method, path, other.http.base_url, response.text)
    assert other_b.http.get("/api/logs", params={"proxy_id": pid}).json()["items"] == []

    # Nothing the other user tried changed anything: the owner's proxy is as it was, on both nodes.
    for owner in (owner_a, owner_b):
        seen = owner.http.get(f"/api/proxies/{pid}").json()
        assert (seen["name"], seen["status"]) == (proxy["name"], "running"), seen["last_error"]
        assert owner.http.get(f"/api/proxies/{pid}/failure").json()["errors"] == []
    answer = cluster.b.openai(proxy).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "still mine?"}]
    )
    assert answer.http_response.status_code == 200


def test_an_account_registered_on_b_logs_in_on_a(cluster: Cluster) -> None:
    email = "registered-on-b@example.com"
    on_b = Api.new_user(cluster.b.url, email)
    on_a = Api.login(cluster.a.url, email)
    assert on_a.http.get("/api/users/me").json()["id"] == on_b.http.get("/api/users/me").json()["id"]
