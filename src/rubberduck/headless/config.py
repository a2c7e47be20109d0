"""What a headless proxy is told: flags or a `[[proxy]]` table, and a failure file, validated into one-line errors."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rubberduck.api.schemas import _check_url
from rubberduck.cache.config import CacheMode, Repeats, Timing
from rubberduck.faults.config import FailureConfig


class HeadlessError(ValueError):
    """Bad input (provider, directory, failure file, port): the message is one line, fit to print as is."""


class ProxySpec(BaseModel):
    """One headless proxy: the flags of `rubberduck proxy`, or one `[[proxy]]` table of `rubberduck up`."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    recordings: Path
    mode: CacheMode = "replay"  # a CI job never calls the provider unless asked to
    port: int = Field(
        default=0, ge=0, le=65535
    )  # 0: the system picks a free port (the ready line says which)
    host: str = "127.0.0.1"
    upstream: str | None = None  # default: the provider's own API
    failure: Path | None = None  # a JSON or TOML file in the shape of the API's failure config
    repeats: Repeats = "same"
    timing: Timing = "instant"
    fail_on_miss: bool = False
    fail_on_unused: bool = False

    _url = field_validator("upstream")(_check_url)

    @classmethod
    def parse(cls, values: dict[str, Any], where: str = "") -> ProxySpec:
        """Validated, or HeadlessError with every problem on one line (`where` names the table)."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise HeadlessError(f"{where}{describe_validation(exc)}") from None


def describe_validation(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return " ".join("; ".join(problems).split())


def _read_structured(path: Path, what: str) -> Any:
    """A JSON file, or TOML when the name ends in .toml; HeadlessError naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise HeadlessError(f"cannot read {what} {path}: {reason}") from None
    toml = path.suffix.lower() == ".toml"
    try:
        return tomllib.loads(text) if toml else json.loads(text)
    except ValueError as exc:  # JSONDecodeError and TOMLDecodeError are both ValueErrors
        kind = "TOML" if toml else "JSON"
        raise HeadlessError(f"{what} {path} is not valid {kind}: {' '.join(str(exc).split())}") from None


def load_failure(path: Path) -> FailureConfig:
    """The failure config in `path` (JSON, or TOML by its .toml suffix), validated as the API validates it."""
    data = _read_structured(path, "failure file")
    try:
        return FailureConfig.model_validate(data)
    except ValidationError as exc:
        raise HeadlessError(f"invalid failure file {path}: {describe_validation(exc)}") from None


def load_up_config(path: Path) -> list[ProxySpec]:
    """`rubberduck up -c FILE`: top-level keys are defaults for every `[[proxy]]` table, which override them.

    Keys are those of the flags (`fail-on-miss` or `fail_on_miss`); relative paths are read from the file's
    directory, so the file works from wherever the command runs.
    """
    data = _read_structured(path, "config file")
    if not isinstance(data, dict):
        raise HeadlessError(f"config file {path}: expected a table with [[proxy]] entries")
    data = {key.replace("-", "_"): value for key, value in data.items()}
    tables = data.pop("proxy", None)
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise HeadlessError(f"config file {path}: no [[proxy]] tables")
    specs = []
    for number, table in enumerate(tables, 1):
        values = {**data, **{key.replace("-", "_"): value for key, value in table.items()}}
        for name in ("recordings", "failure"):
            if isinstance(values.get(name), str):
                values[name] = path.parent / values[name]
        specs.append(ProxySpec.parse(values, f"config file {path}, proxy {number}: "))
    return specs
