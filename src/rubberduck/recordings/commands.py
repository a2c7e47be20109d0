"""The `rubberduck recordings` subcommands: their flags here, their work imported only when one runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rubberduck.settings import Settings

Common = Callable[[argparse.ArgumentParser], None]
SettingsFrom = Callable[[argparse.Namespace], Settings]


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: Common, settings: SettingsFrom
) -> None:
    """`recordings export|import|check`; `common(sub)` adds --data-dir and --database-url."""
    parser = commands.add_parser("recordings", help="export, import and check recordings as files")
    subs = parser.add_subparsers(dest="recordings_command", required=True)

    def proxy_flags(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--proxy", required=True, help="the proxy's id or name")
        sub.add_argument("--owner", default=None, help="the owner's e-mail, when several users use the name")
        sub.add_argument("--dir", required=True, type=Path)
        common(sub)

    export = subs.add_parser("export", help="write a proxy's recordings to DIR, one JSON file each")
    proxy_flags(export)
    export.add_argument("--namespace", default=None, help="only this namespace ('' for the default one)")
    export.set_defaults(handler=lambda args: _transfer(args, settings(args), "export"))
    load = subs.add_parser(
        "import", help="add DIR's recordings to a proxy (the same key and occurrence: replaced)"
    )
    proxy_flags(load)
    load.set_defaults(handler=lambda args: _transfer(args, settings(args), "import"))
    check = subs.add_parser("check", help="validate every recording file in DIR")
    check.add_argument("--dir", required=True, type=Path)
    check.set_defaults(handler=check_command)


def _transfer(args: argparse.Namespace, settings: Settings, work: str) -> int:
    from rubberduck.recordings.transfer import run_transfer

    return run_transfer(args, settings, work)


def check_command(args: argparse.Namespace) -> int:
    from rubberduck.recordings.check import check_directory

    root: Path = args.dir
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 1
    report = check_directory(root)
    for line in report.lines():
        print(line)
    for path, reason in report.problems:
        print(f"{path}: {reason}", file=sys.stderr)
    return 0 if report.ok else 1
