from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rubberduck", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_user_create_makes_a_verified_user_and_refuses_duplicates(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = run(
        "user",
        "create",
        "--email",
        "root@example.com",
        "--password",
        "long-enough-1",
        "--superuser",
        "--data-dir",
        data,
    )
    assert created.returncode == 0, created.stderr
    assert "superuser root@example.com" in created.stdout
    rows = (
        sqlite3.connect(tmp_path / "data" / "rubberduck.db")
        .execute("select email, is_superuser, is_verified, hashed_password from users")
        .fetchall()
    )
    assert rows[0][:3] == ("root@example.com", 1, 1)
    assert rows[0][3].startswith("$argon2") and "long-enough-1" not in rows[0][3]
    again = run(
        "user", "create", "--email", "root@example.com", "--password", "long-enough-1", "--data-dir", data
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    short = run("user", "create", "--email", "b@example.com", "--password", "short", "--data-dir", data)
    assert short.returncode == 1 and "8 characters" in short.stderr


def test_bad_input_is_one_error_line_not_a_traceback(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    (tmp_path / "file").write_text("")
    cases = [
        (("--email", "su@x.test", "--data-dir", data), "email: value is not a valid email address"),
        (("--email", "a@example.com", "--data-dir", str(tmp_path / "file" / "sub")), "Not a directory"),
        (("--email", "a@example.com", "--data-dir", data, "--database-url", "nonsense://x"), "database: "),
        (
            ("--email", "a@example.com", "--data-dir", data, "--database-url", "postgresql://u:pw@h:x/db"),
            "invalid literal for int()",
        ),
    ]
    for flags, expected in cases:
        result = run("user", "create", "--password", "long-enough-1", *flags)
        assert result.returncode == 1, result
        assert result.stderr.startswith("error: ") and expected in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    bad_env = subprocess.run(
        [sys.executable, "-m", "rubberduck", "user", "create", "--email", "a@example.com", "--password",
         "long-enough-1", "--data-dir", data],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "RUBBERDUCK_PORT": "abc"},
    )  # fmt: skip
    assert bad_env.returncode == 1 and bad_env.stderr.startswith("error: port: "), bad_env.stderr
    assert bad_env.stderr.count("\n") == 1
