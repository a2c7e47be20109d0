"""A proxy's recordings as a zip: `GET|POST /api/proxies/{id}/recordings.zip` on the shared server.

Recorded with the official openai SDK through a real proxy; the download must hold exactly the files
`rubberduck recordings export` writes, and an upload into a fresh replay proxy must replay what the SDK saw
without a call upstream, at once (even over an entry the server holds in memory).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx

from rubberduck.recordings.files import document_to_entry, dump_document, entry_to_document
from tests.fakes.upstream import FakeUpstream
from tests.integration import test_recordings_api
from tests.integration.test_recordings_api import PLAIN, ask, ask_stream, openai_client
from tests.integration.test_recordings_cli import cli, wait_for_entries
from tests.support import Api, RubberduckProcess

fake = test_recordings_api.fake  # the fake upstream serving the plain and the streamed chat answer


def zip_url(proxy: dict[str, Any]) -> str:
    return f"/api/proxies/{proxy['id']}/recordings.zip"


def download(api: Api, proxy: dict[str, Any], **params: Any) -> httpx.Response:
    response = api.http.get(zip_url(proxy), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return response


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(api: Api, proxy: dict[str, Any], data: bytes) -> httpx.Response:
    return api.http.post(zip_url(proxy), files={"file": ("recordings.zip", data, "application/zip")})


def test_download_matches_the_cli_export_and_upload_replays(
    api: Api, server: RubberduckProcess, fake: FakeUpstream, tmp_path: Path
) -> None:
    recording = api.running_proxy("openai", fake.url)
    sdk = openai_client(recording)
    plain = ask(sdk)
    assert plain.headers["x-rubberduck-cache"] == "miss"
    streamed = ask_stream(sdk)
    assert len(streamed) > 3
    wait_for_entries(api, recording["id"], 2)

    files = members(download(api, recording).content)
    exported = cli(server, "export", "--proxy", str(recording["id"]), "--dir", str(tmp_path))
    assert exported.returncode == 0, exported.stderr
    on_disk = {path.relative_to(tmp_path).as_posix(): path.read_bytes() for path in tmp_path.rglob("*.json")}
    assert len(files) == 2 and all(name.startswith("_default/") for name in files)
    assert files == on_disk  # the same names, the same bytes
    assert {document_to_entry(json.loads(data)).stream for data in files.values()} == {True, False}
    assert members(download(api, recording, namespace="elsewhere").content) == {}

    replaying = api.running_proxy("openai", fake.url, cache={"mode": "replay"})
    archive = download(api, recording).content
    response = upload(api, replaying, archive)
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 2, "replaced": 0, "skipped": 0}
    calls = len(fake.requests)
    again = openai_client(replaying)
    hit = ask(again)
    assert hit.headers["x-rubberduck-cache"] == "hit"
    assert hit.parse().model_dump() == plain.parse().model_dump()
    assert [chunk.model_dump() for chunk in ask_stream(again)] == [chunk.model_dump() for chunk in streamed]
    assert len(fake.requests) == calls  # replayed from the upload, nothing fetched
    assert members(download(api, replaying).content) == files  # the round trip keeps every byte

    # Replacing an entry the running proxy holds in memory: the next request gets the new answer.
    name, data = next((n, d) for n, d in files.items() if not json.loads(d)["response"]["stream"])
    entry = document_to_entry(json.loads(data))
    answer = json.loads(gzip.decompress(PLAIN.body))
    answer["choices"][0]["message"]["content"] = "changed by an upload"
    changed = dataclasses.replace(entry, chunks=(gzip.compress(json.dumps(answer).encode()),))
    response = upload(api, replaying, make_zip({name: dump_document(entry_to_document(changed, "openai"))}))
    assert response.json() == {"imported": 1, "replaced": 1, "skipped": 0}, response.text
    assert ask(again).parse().choices[0].message.content == "changed by an upload"
    assert len(fake.requests) == calls


def test_bad_archives_are_refused_and_nothing_is_imported(
    api: Api, fake: FakeUpstream, tmp_path: Path
) -> None:
    recording = api.running_proxy("openai", fake.url)
    ask(openai_client(recording))
    wait_for_entries(api, recording["id"], 1)
    files = members(download(api, recording).content)
    good_name, good = next(iter(files.items()))
    target = api.create_proxy(provider="openai", upstream_url=fake.url)

    def refused(data: bytes) -> str:
        response = upload(api, target, data)
        assert response.status_code == 422, response.text
        return json.dumps(response.json()["detail"])

    assert "../x.json" in refused(make_zip({good_name: good, "../x.json": good}))
    assert "an absolute path" in refused(make_zip({"/etc/x.json": good}))
    assert "not a recording file" in refused(make_zip({"_default/notes.txt": b"hello"}))
    assert "not a zip archive" in refused(b"this is not a zip")
    document = json.loads(good)
    document["response"]["status"] = 99
    bad = refused(make_zip({good_name: good, "_default/bad.json": dump_document(document)}))
    assert "_default/bad.json" in bad and "response.status" in bad
    assert "invalid JSON" in refused(make_zip({"_default/broken.json": b"{"}))
    no_file = api.http.post(f"/api/proxies/{target['id']}/recordings.zip")
    assert no_file.status_code == 422 and no_file.json()["detail"][0]["loc"] == ["body", "file"]
    assert api.http.get(f"/api/proxies/{target['id']}/cache").json()["items"] == []  # all or nothing

    # An archive that claims a small size but unpacks to more than the bound is cut off, not unpacked.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("_default/big.json", b" " * (51 * 1024 * 1024))
    assert "MiB" in refused(buffer.getvalue())


def test_another_users_proxy_is_not_found(api: Api, server: RubberduckProcess, fake: FakeUpstream) -> None:
    proxy = api.create_proxy(provider="openai", upstream_url=fake.url)
    other = Api.new_user(server.url, "zip-intruder@example.com")
    assert other.http.get(zip_url(proxy)).status_code == 404
    assert upload(other, proxy, make_zip({})).status_code == 404
    assert api.http.get("/api/proxies/999999/recordings.zip").status_code == 404
