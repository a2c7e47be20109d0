"""`rubberduck recordings export|import|check` against the shared server's database, with the official SDKs.

Every provider and stream format is recorded through a real proxy with sentinel credentials, exported
(no sentinel, no request id, no cookie in any file), checked, imported into a fresh proxy in replay mode,
and replayed: the SDK gets the identical result and the entry the identical chunks.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import boto3
import httpx
import openai
import pytest
from botocore.config import Config
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from tests.fakes import aws
from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.integration.recording_support import recorded_entries, rewind, set_cache
from tests.integration.test_modes_every_provider import CASES, PROVIDERS, answers
from tests.support import Api, RubberduckProcess, proxy_url

SENTINELS = {
    "openai": "sk-SENTINEL-openai",
    "openai-org": "org-SENTINEL-organization",
    "openai-project": "proj_SENTINEL-project",
    "azure": "SENTINEL-azure-api-key",
    "anthropic": "sk-ant-SENTINEL-x-api-key",
    "anthropic-auth": "SENTINEL-anthropic-bearer",
    "aws-key": "AKIASENTINEL00000001",
    "aws-secret": "SENTINEL-aws-secret",
    "aws-token": "SENTINEL-aws-session-token",
    "gemini": "AIza-SENTINEL-gemini",
    "gemini-query": "AIza-SENTINEL-query-key",
    "vertex": "ya29.SENTINEL-vertex",
    "cookie": "SENTINEL-cookie",
    "request-id": "SENTINEL-request-id",
}
# Response headers a provider sends that must never reach a file.
NOISE = [
    ("x-request-id", SENTINELS["request-id"]),
    ("request-id", SENTINELS["request-id"]),
    ("set-cookie", f"session={SENTINELS['cookie']}; Path=/"),
    ("openai-organization", SENTINELS["openai-org"]),
    ("openai-project", SENTINELS["openai-project"]),
    ("x-amzn-requestid", SENTINELS["request-id"]),
]
FORBIDDEN = [
    *SENTINELS.values(),
    "openai-organization",
    "openai-project",
    "x-request-id",
    "request-id",
    "set-cookie",
]


def sentinel_client(name: str, proxy: dict[str, Any]) -> Any:
    """The provider's official SDK with credentials that must never be written anywhere."""
    base = proxy_url(proxy)
    if name == "openai":
        return openai.OpenAI(
            base_url=base + "/v1",
            api_key=SENTINELS["openai"],
            organization=SENTINELS["openai-org"],
            project=SENTINELS["openai-project"],
            max_retries=0,
        )
    if name == "azure":
        return openai.AzureOpenAI(
            azure_endpoint=base, api_version="2024-02-01", api_key=SENTINELS["azure"], max_retries=0
        )
    if name == "anthropic":
        return anthropic.Anthropic(
            base_url=base,
            api_key=SENTINELS["anthropic"],
            default_headers={"Authorization": f"Bearer {SENTINELS['anthropic-auth']}"},
            max_retries=0,
        )
    if name == "bedrock":
        return boto3.client(
            "bedrock-runtime",
            endpoint_url=base,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
            aws_access_key_id=SENTINELS["aws-key"],
            aws_secret_access_key=SENTINELS["aws-secret"],
            aws_session_token=SENTINELS["aws-token"],
        )
    if name == "gemini-json-array":
        return httpx.Client(
            base_url=base,
            params={"key": SENTINELS["gemini-query"]},
            headers={"x-goog-api-key": SENTINELS["gemini"]},
        )
    options = types.HttpOptions(base_url=base)
    if name == "gemini":
        return genai.Client(api_key=SENTINELS["gemini"], http_options=options)
    token = Credentials(token=SENTINELS["vertex"])  # type: ignore[no-untyped-call]
    return genai.Client(
        vertexai=True, project="pydantic-ai", location="global", credentials=token, http_options=options
    )


def cli(server: RubberduckProcess, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rubberduck", "recordings", *args]
    if args[0] != "check":
        command += ["--data-dir", str(server.data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def wait_for_entries(api: Api, proxy_id: int, count: int) -> list[dict[str, Any]]:
    """Entries are written after the client has its answer: wait until they are in the database."""
    deadline = time.monotonic() + 10
    entries = recorded_entries(api, proxy_id)
    while len(entries) < count:
        assert time.monotonic() < deadline, entries
        time.sleep(0.05)
        entries = recorded_entries(api, proxy_id)
    return entries


def entry_detail(api: Api, proxy_id: int, key: str, occurrence: int = 1) -> dict[str, Any]:
    response = api.http.get(f"/api/proxies/{proxy_id}/cache/{key}", params={"occurrence": occurrence})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(params=CASES, ids=[f"{name}-{'stream' if stream else 'plain'}" for name, stream in CASES])
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool, FakeUpstream]]:
    """A fake of the provider that answers `answer N` in its wire format, with headers a file must not hold."""
    name, stream = request.param
    routes, respond = PROVIDERS[name][:2]
    calls = itertools.count(1)

    async def answer(request: FakeRequest) -> FakeResponse:
        if name == "bedrock" and (problem := aws.signature_problem(request)):
            return aws.invalid_signature(problem)
        streamed = "stream" in request.path.lower() or request.json().get("stream") is True
        response = respond(f"answer {next(calls)}", streamed)
        response.headers = [*response.headers, *NOISE]
        return response

    with FakeUpstream() as upstream:
        for route in routes:
            upstream.add_handler("POST", route, answer)
        yield name, stream, upstream


def test_export_check_import_replays_what_the_sdk_saw_for_every_provider(
    fake: tuple[str, bool, FakeUpstream], api: Api, server: RubberduckProcess, tmp_path: Path
) -> None:
    name, stream, upstream = fake
    provider = name.split("-")[0]
    call: Callable[..., Any] = PROVIDERS[name][2]
    recording = api.running_proxy(provider, upstream.url)
    status, key, first = call(sentinel_client(name, recording), stream, "What is 2+2?")
    assert status == "miss" and answers(first) == ["answer 1"]
    wait_for_entries(api, recording["id"], 1)

    exported = cli(server, "export", "--proxy", str(recording["id"]), "--dir", str(tmp_path))
    assert exported.returncode == 0, exported.stderr
    files = sorted(tmp_path.rglob("*.json"))
    assert [f.relative_to(tmp_path).parts[0] for f in files] == ["_default"]
    assert len(files) == 1 and files[0].name.endswith(f"-{key[:12]}.json")
    text = files[0].read_text()
    assert [word for word in FORBIDDEN if word.lower() in text.lower()] == []
    lowered = text.lower()
    assert [word for word in ("akia", "signature=", "x-amz-security-token", "x-amz-date", "authorization",
                              "bearer", "api-key", "x-goog-api-key") if word in lowered] == []  # fmt: skip
    again = cli(server, "export", "--proxy", recording["name"], "--dir", str(tmp_path))
    assert again.returncode == 0 and "0 written, 1 unchanged" in again.stdout
    assert files[0].read_text() == text  # exporting twice: identical bytes
    checked = cli(server, "check", "--dir", str(tmp_path))
    assert checked.returncode == 0 and f"{provider} (default): 1 recording" in checked.stdout, checked

    replaying = api.running_proxy(provider, upstream.url, cache={"mode": "replay"})
    imported = cli(server, "import", "--proxy", replaying["name"], "--dir", str(tmp_path))
    assert imported.returncode == 0 and "imported 1 recordings" in imported.stdout, imported.stderr
    calls_before = len(upstream.requests)
    assert call(sentinel_client(name, replaying), stream, "What is 2+2?") == ("hit", key, first)
    assert len(upstream.requests) == calls_before  # replayed from the imported file, not fetched

    original = entry_detail(api, recording["id"], key)
    copy = entry_detail(api, replaying["id"], key)
    for field in ("key", "namespace", "occurrence", "request", "stream", "status", "created_at", "ignored"):
        assert copy[field] == original[field], field
    for field in ("content_type", "encoding", "body", "body_base64", "json", "events"):
        assert copy["response"][field] == original["response"][field], field  # every chunk, byte for byte
    if stream:
        assert len(copy["response"]["events"]) > 1


def test_namespaces_and_sequences_round_trip(api: Api, server: RubberduckProcess, tmp_path: Path) -> None:
    calls = itertools.count(1)

    async def answer(request: FakeRequest) -> FakeResponse:
        return PROVIDERS["openai"][1](f"answer {next(calls)}", False)

    with FakeUpstream() as upstream:
        upstream.add_handler("POST", "/v1/chat/completions", answer)
        recording = api.running_proxy("openai", upstream.url, cache={"repeats": "sequence"})

        def ask(proxy: dict[str, Any], namespace: str) -> str:
            sdk = openai.OpenAI(
                base_url=f"{proxy_url(proxy)}/_ns/{namespace}/v1", api_key="sk-x", max_retries=0
            )
            done = sdk.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            return str(done.choices[0].message.content)

        assert [ask(recording, "tests.a"), ask(recording, "tests.a"), ask(recording, "tests.b")] == [
            "answer 1",
            "answer 2",
            "answer 3",
        ]
        wait_for_entries(api, recording["id"], 3)
        only_a = cli(
            server,
            "export",
            "--proxy",
            str(recording["id"]),
            "--dir",
            str(tmp_path),
            "--namespace",
            "tests.a",
        )
        assert only_a.returncode == 0, only_a.stderr
        names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json"))
        assert len(names) == 2 and names[0].startswith("tests.a/chat-") and names[0].endswith("-2.json")
        assert names[1] == names[0].removesuffix("-2.json") + ".json"  # occurrence 1 has no suffix

        replaying = api.running_proxy("openai", upstream.url, cache={"mode": "replay", "repeats": "sequence"})
        assert cli(server, "import", "--proxy", str(replaying["id"]), "--dir", str(tmp_path)).returncode == 0
        rewind(api, replaying["id"])
        assert [ask(replaying, "tests.a"), ask(replaying, "tests.a")] == ["answer 1", "answer 2"]
        with pytest.raises(openai.NotFoundError, match="replay_miss"):
            ask(replaying, "tests.b")  # not exported
        assert len(upstream.requests) == 3

        # A replaced entry: the command says a running proxy may hold the old one in memory.
        again = cli(server, "import", "--proxy", str(replaying["id"]), "--dir", str(tmp_path))
        assert "2 replaced" in again.stdout and "until it restarts" in again.stdout
        set_cache(api, replaying["id"], ignore=["user"])
        noted = cli(server, "import", "--proxy", str(replaying["id"]), "--dir", str(tmp_path))
        assert "the proxy's ignore paths are ['user']" in noted.stdout


def test_proxy_names_unknown_ambiguous_and_owner(api: Api, server: RubberduckProcess, tmp_path: Path) -> None:
    unknown = cli(server, "export", "--proxy", "no such proxy", "--dir", str(tmp_path))
    assert (
        unknown.returncode == 1
        and unknown.stderr.strip() == "error: no proxy with id or name 'no such proxy'"
    )
    name = f"shared name {time.time_ns()}"
    first = api.create_proxy(provider="openai", name=name)
    other_email = f"other{time.time_ns()}@example.com"
    other = Api.new_user(server.url, other_email)
    second = other.create_proxy(provider="openai", name=name)
    ambiguous = cli(server, "export", "--proxy", name, "--dir", str(tmp_path))
    assert ambiguous.returncode == 1
    assert f"{first['id']} (" in ambiguous.stderr and f"{second['id']} ({other_email})" in ambiguous.stderr
    assert "--owner EMAIL" in ambiguous.stderr and ambiguous.stderr.count("\n") == 1
    chosen = cli(server, "export", "--proxy", name, "--owner", other_email, "--dir", str(tmp_path))
    assert chosen.returncode == 0 and f"proxy {second['id']} " in chosen.stdout, chosen.stderr
    nobody = cli(server, "export", "--proxy", name, "--owner", "nobody@example.com", "--dir", str(tmp_path))
    assert nobody.returncode == 1 and "owned by nobody@example.com" in nobody.stderr


def test_import_refuses_a_directory_with_a_bad_file(
    api: Api, server: RubberduckProcess, tmp_path: Path
) -> None:
    proxy = api.create_proxy(provider="openai")
    (tmp_path / "_default").mkdir()
    bad = tmp_path / "_default" / "chat-000000000000.json"
    bad.write_text(json.dumps({"format": "rubberduck-recording/1"}))
    refused = cli(server, "import", "--proxy", str(proxy["id"]), "--dir", str(tmp_path))
    assert refused.returncode == 1 and f"{bad}: key: missing" in refused.stderr
    assert "nothing imported" in refused.stderr and recorded_entries(api, proxy["id"]) == []
    missing = cli(server, "import", "--proxy", str(proxy["id"]), "--dir", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "is not a directory" in missing.stderr
    no_db = subprocess.run(
        [sys.executable, "-m", "rubberduck", "recordings", "export", "--proxy", "1", "--dir", str(tmp_path),
         "--data-dir", str(tmp_path / "empty")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert no_db.returncode == 1 and "error: no database in" in no_db.stderr
    assert not (tmp_path / "empty").exists()


def test_gzip_json_array_stream_round_trips_byte_for_byte(
    api: Api, server: RubberduckProcess, tmp_path: Path
) -> None:
    legacy = recordings("vertex", "gemini_stream_generate_content_json_array_gzip")[0]
    headers = {"content-type": "application/json", "x-goog-api-key": SENTINELS["gemini"]}

    def fetch(proxy: dict[str, Any]) -> tuple[httpx.Response, list[bytes]]:
        url = proxy_url(proxy) + legacy.path + "?key=" + SENTINELS["gemini-query"]
        with httpx.stream("POST", url, content=legacy.request_body, headers=headers, timeout=10) as response:
            return response, list(response.iter_raw())

    with FakeUpstream() as upstream:
        upstream.add("POST", legacy.path, legacy, stream=True)
        recording = api.running_proxy("gemini", upstream.url)
        first, first_raw = fetch(recording)
        [entry] = wait_for_entries(api, recording["id"], 1)
        replaying = api.running_proxy("gemini", upstream.url, cache={"mode": "replay"})
    assert cli(server, "export", "--proxy", str(recording["id"]), "--dir", str(tmp_path)).returncode == 0
    [file] = tmp_path.rglob("*.json")
    document = json.loads(file.read_text())
    assert ["content-encoding", "gzip"] in document["response"]["headers"]
    events = document["response"]["events"]
    assert events and all("base64" in event for event in events)
    assert "".join(event.get("decoded_text", "") for event in events).lstrip().startswith("[")
    assert [word for word in FORBIDDEN if word.lower() in file.read_text().lower()] == []
    assert cli(server, "import", "--proxy", str(replaying["id"]), "--dir", str(tmp_path)).returncode == 0
    second, second_raw = fetch(replaying)  # the upstream is gone: only the imported file can answer
    assert (first.headers["x-rubberduck-cache"], second.headers["x-rubberduck-cache"]) == ("miss", "hit")
    assert second.headers["content-encoding"] == "gzip" and b"".join(second_raw) == b"".join(first_raw)
    original = entry_detail(api, recording["id"], entry["key"])["response"]
    assert entry_detail(api, replaying["id"], entry["key"])["response"]["events"] == original["events"]
