"""The `rubberduck` command: builds Settings from flags and environment, then calls into the app."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rubberduck.headless.command import add_commands as add_headless_commands
from rubberduck.recordings.commands import add_commands as add_recordings_commands
from rubberduck.redact import configure_logging, redact
from rubberduck.settings import Settings

# Light imports only: `rubberduck proxy` must be ready in well under a second, so uvicorn, SQLAlchemy and
# the app are imported by the commands that use them.


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.workers > 1:
        return _serve_workers(args, settings)

    import uvicorn

    from rubberduck.app import SharedDatabaseRequired, create_app
    from rubberduck.control_server import ControlPlaneServer

    shared = None
    if settings.reuse_port:  # one of `serve --workers N`'s processes: the port is bound by all of them
        from rubberduck.proxy.server import bind_socket, describe_bind_error

        try:
            # Not listening yet: uvicorn listens once the app has started, so until then the kernel
            # hands new connections to the workers that are ready.
            shared = bind_socket(settings.host, settings.port, reuse_port=True, listen=False)
        except OSError as exc:
            where = describe_bind_error(exc, settings.host, settings.port)
            print(f"error: control plane: {where}", file=sys.stderr)
            return 1
    configure_logging(logging.INFO)  # every line redacted; httpx's per-request URLs kept out
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("rubberduck").warning(
            "control plane bound to %s: reachable beyond this machine", settings.host
        )
    try:
        app = create_app(settings)
    except SharedDatabaseRequired as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The socket peer is the client (login throttling counts by it): X-Forwarded-For is believed only
    # from the reverse proxies listed in RUBBERDUCK_FORWARDED_ALLOW_IPS, never by default.
    trusted = settings.forwarded_allow_ips
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )
    # Server.run picks uvloop and httptools when installed; the proxies share this loop.
    server = ControlPlaneServer(
        config, app.state.services.live.close, settings.graceful_stop_seconds, args.ready_fd
    )
    if shared is None:
        server.run()
        return 0
    try:
        server.run(sockets=[shared])
    except KeyboardInterrupt:  # the parent passed on a Ctrl+C: stopped as asked, no traceback per worker
        return 130
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """The parent of N `serve` processes on the same ports (see control_server.WorkerSupervisor)."""
    refusal = workers_refusal(settings)
    if refusal:
        print(f"error: serve --workers {args.workers} {refusal}", file=sys.stderr)
        return 2
    from rubberduck.control_server import WorkerSupervisor

    configure_logging(logging.INFO)
    flags: list[str] = []
    for name in ("host", "port", "data_dir", "database_url"):
        value = getattr(args, name)
        if value is not None:
            flags += ["--" + name.replace("_", "-"), str(value)]
    command = [sys.executable, "-m", "rubberduck", "serve", *flags]
    env = {**os.environ, "RUBBERDUCK_REUSE_PORT": "1"}
    return WorkerSupervisor(command, env, args.workers).run()


def workers_refusal(settings: Settings) -> str | None:
    """Why this configuration cannot run several workers (they act as nodes of one deployment), if so."""
    if settings.resolved_database_url.split(":", 1)[0].split("+", 1)[0] == "sqlite":
        return (
            "needs Postgres: SQLite is one process's database "
            "(set RUBBERDUCK_DATABASE_URL to postgresql+asyncpg://...)"
        )
    if not settings.redis_url:
        return (
            "needs Redis: the workers share cache entries, rate limits and config through it "
            "(set RUBBERDUCK_REDIS_URL)"
        )
    if settings.port == 0:
        return "needs a fixed --port: every worker listens on the same one"
    return None


def _user_create(args: argparse.Namespace) -> int:
    from fastapi_users.exceptions import InvalidPasswordException, UserAlreadyExists

    from rubberduck.auth.users import create_user
    from rubberduck.db.database import Database
    from rubberduck.db.migrate import upgrade_to_head
    from rubberduck.db.secret_store import resolve_secret

    settings = _settings(args)
    settings.prepare_data_dir()

    async def run() -> int:
        database = Database(settings.resolved_database_url)
        try:
            await upgrade_to_head(database)
            secret = await resolve_secret(settings, database)  # the database's, on Postgres
            user = await create_user(database, secret, args.email, args.password, args.superuser)
        except UserAlreadyExists:
            print(f"error: a user with e-mail {args.email} already exists", file=sys.stderr)
            return 1
        except InvalidPasswordException as exc:
            print(f"error: {exc.reason}", file=sys.stderr)
            return 1
        finally:
            await database.dispose()
        kind = "superuser" if user.is_superuser else "user"
        print(f"created verified {kind} {user.email} ({user.id})")
        return 0

    return asyncio.run(run())


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rubberduck", description="Local LLM caching reverse proxy")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data-dir", type=Path, default=None, help="default ./data (RUBBERDUCK_DATA_DIR)")
        sub.add_argument(
            "--database-url", default=None, help="SQLAlchemy async URL (RUBBERDUCK_DATABASE_URL)"
        )

    serve = commands.add_parser("serve", help="run the control plane and all proxies")
    serve.add_argument("--host", default=None, help="default 127.0.0.1 (RUBBERDUCK_HOST)")
    serve.add_argument("--port", type=int, default=None, help="default 9000 (RUBBERDUCK_PORT)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes sharing the ports (SO_REUSEPORT); above 1 needs Postgres and Redis",
    )
    # Internal: where a worker of `serve --workers` tells its parent it serves (a pipe's write end).
    serve.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    common(serve)
    serve.set_defaults(handler=_serve)

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a verified user")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--superuser", action="store_true")
    common(create)
    create.set_defaults(handler=_user_create)

    add_recordings_commands(commands, common, _settings)
    add_headless_commands(commands)  # proxy, up
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    try:
        result: int = handler(args)
    except Exception as exc:  # ValueError: a malformed URL, or pydantic's
        if not isinstance(exc, ValueError | OSError) and not _from_sqlalchemy(exc):
            raise
        # A bad flag, variable or data dir is the user's to fix: one line saying what, no traceback.
        print(f"error: {describe_error(exc)}", file=sys.stderr)
        return 1
    return result


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}: {error['msg']}" if where else error["msg"])
        text = "; ".join(problems)
    elif _from_sqlalchemy(exc):
        from sqlalchemy.exc import DBAPIError

        text = f"database: {exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc}"
    else:
        text = str(exc) or type(exc).__name__
    # One line, whatever the message held, and never a password (a database URL may be quoted back).
    return redact(" ".join(text.split()))


def _from_sqlalchemy(exc: Exception) -> bool:
    """A database error. SQLAlchemy is imported lazily: if it is not loaded, no error of it can exist."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.SQLAlchemyError)
