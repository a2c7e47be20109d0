"""The headless proxy's inputs (flags, `up` files, failure files) and its summary, without a process."""

from __future__ import annotations

from pathlib import Path

import pytest

from rubberduck.faults.config import ErrorFault, FailureConfig
from rubberduck.headless import (
    HeadlessError,
    HeadlessProxy,
    Miss,
    ProxySpec,
    Recording,
    Summary,
    load_failure,
)
from rubberduck.headless.config import load_up_config
from rubberduck.headless.summary import CountingLogSink
from rubberduck.providers.openai import OpenAIAdapter
from rubberduck.telemetry.enrich import ResponseBody


def test_failure_files_read_as_json_or_toml_in_the_api_shape(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text('{"seed": 7, "errors": [{"status": 429, "rate": 0.5}]}')
    (tmp_path / "f.toml").write_text("seed = 7\n[[errors]]\nstatus = 429\nrate = 0.5\n")
    expected = FailureConfig(seed=7, errors=[ErrorFault(status=429, rate=0.5)])
    assert load_failure(tmp_path / "f.json") == load_failure(tmp_path / "f.toml") == expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("f.json", "{", "is not valid JSON"),
        ("f.toml", "seed = ", "is not valid TOML"),
        ("f.json", '{"errors": [{"status": 418, "rate": 1}]}', "invalid failure file"),
        ("f.json", '{"latency": {"ms": -1}, "surprise": 1}', "latency.ms"),
        ("f.json", "[1, 2]", "invalid failure file"),
    ],
)
def test_a_bad_failure_file_is_one_line_naming_it(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(HeadlessError) as raised:
        load_failure(path)
    message = str(raised.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_up_file_defaults_apply_to_every_table_and_paths_are_read_from_its_directory(tmp_path: Path) -> None:
    config = tmp_path / "ci" / "rubberduck.toml"
    config.parent.mkdir()
    config.write_text(
        'recordings = "rec"\nmode = "record"\n'
        '[[proxy]]\nprovider = "openai"\nport = 8001\nfail-on-miss = true\n'
        '[[proxy]]\nprovider = "anthropic"\nrecordings = "/abs/rec"\nfailure = "f.json"\nmode = "replay"\n'
    )
    first, second = load_up_config(config)
    assert (first.provider, first.port, first.mode, first.fail_on_miss) == ("openai", 8001, "record", True)
    assert first.recordings == config.parent / "rec"
    assert (second.mode, second.recordings, second.failure) == (
        "replay",
        Path("/abs/rec"),
        config.parent / "f.json",
    )
    assert second.port == 0 and not second.fail_on_miss


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('provider = "openai"\n', "no [[proxy]] tables"),
        ('[[proxy]]\nprovider = "openai"\n', "proxy 1: recordings: Field required"),
        ('[[proxy]]\nprovider = "openai"\nrecordings = "r"\nspeed = 3\n', "speed: Extra inputs"),
        ('[[proxy]]\nprovider = "openai"\nrecordings = "r"\nupstream = "ftp://x"\n', "http:// or https://"),
        ('[[proxy]]\nprovider = "openai"\nrecordings = "r"\nport = 70000\n', "port: Input should be"),
    ],
)
def test_a_bad_up_file_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rubberduck.toml"
    path.write_text(text)
    with pytest.raises(HeadlessError) as raised:
        load_up_config(path)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_proxy_spec_defaults_to_replay_on_a_free_port() -> None:
    spec = ProxySpec.parse({"provider": "openai", "recordings": "r"})
    assert (spec.mode, spec.port, spec.host, spec.repeats, spec.timing) == (
        "replay", 0, "127.0.0.1", "same", "instant",
    )  # fmt: skip


def test_headless_proxy_refuses_bad_input_before_it_listens(tmp_path: Path) -> None:
    with pytest.raises(HeadlessError, match="unknown provider 'nope'"):
        HeadlessProxy("nope", tmp_path)
    with pytest.raises(HeadlessError, match="repeats"):
        HeadlessProxy("openai", tmp_path, repeats="often")  # type: ignore[arg-type]
    (tmp_path / "file").write_text("")
    with pytest.raises(HeadlessError, match="is not a directory"):
        HeadlessProxy("openai", tmp_path / "file")
    made = tmp_path / "new" / "dir"
    HeadlessProxy("openai", made, "record")
    assert made.is_dir()


def test_summary_lines_and_exit_rules() -> None:
    miss = Miss("abc123", "test_a", "replay_miss: body.messages[0].content (nearest def#1)")
    summary = Summary(
        provider="openai",
        url="http://127.0.0.1:8001",
        mode="replay",
        requests=4,
        hits=1,
        misses=(miss, miss, Miss("", "", "replay_miss")),
        new=(),
        unused=(Recording("k", 1, "", Path("_default/chat.completions-k.json")),),
        loaded=2,
    )
    assert summary.lines() == [
        "rubberduck proxy summary: provider=openai url=http://127.0.0.1:8001 mode=replay requests=4 hits=1 "
        "misses=3 new=0 unused=1",
        "  miss: key=abc123 namespace=test_a (x2): replay_miss: body.messages[0].content (nearest def#1)",
        "  miss: key=- namespace=_default: replay_miss",
        "  unused: _default/chat.completions-k.json",
    ]
    assert not summary.failed(False, False)
    assert summary.failed(True, False) and summary.failed(False, True)
    clean = Summary("openai", "u", "replay", 1, 1, (), (), (), 1)
    assert not clean.failed(True, True)


def test_counting_sink_keeps_no_bodies_and_charges_a_token_limit() -> None:
    sink = CountingLogSink()
    charged: list[int] = []
    answer = b'{"model": "gpt-4o-mini", "usage": {"prompt_tokens": 7, "completion_tokens": 5}}'
    body = ResponseBody(
        OpenAIAdapter(), [answer], False, [(b"content-type", b"application/json")], charged.append
    )
    row = {"cache_status": "hit", "status": 200, "_body": body}
    sink.append(row)
    sink.append({"cache_status": "miss", "status": 404})
    assert (sink.requests, sink.hits) == (2, 1)
    assert "_body" not in row
    assert charged == [12]
