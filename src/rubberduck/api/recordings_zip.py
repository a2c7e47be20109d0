"""A proxy's recordings as a zip: `GET|POST /api/proxies/{id}/recordings.zip`.

The archive holds exactly the files `rubberduck recordings export` writes (same layout, same bytes), and an
upload is imported the way `rubberduck recordings import` imports a directory (recordings/transfer.py): the
archive is unpacked into a temporary directory, every file is checked first, and one bad file means nothing
is imported (422 naming each bad file and why). Members must be plain relative `.json` paths; anything else,
and an archive larger than MAX_UNPACKED once unpacked, is a 422 before a byte is written.

Imported entries go through the layered cache, so the running proxy replays them on its next request.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Final

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.api.ownership import owned_proxy
from rubberduck.api.params import NamespaceFilter, ProxyId
from rubberduck.auth.users import Auth
from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.store import LayeredCache
from rubberduck.db.models import User
from rubberduck.recordings.files import path_for
from rubberduck.recordings.transfer import BadRecordings, exported, import_entries, read_directory

MAX_UNPACKED: Final = 50 * 1024 * 1024  # bytes of all members together, once unpacked
MAX_UPLOAD: Final = MAX_UNPACKED  # bytes of the archive itself
MAX_MEMBERS: Final = 20_000
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same recordings give the same archive


class ZipImported(BaseModel):
    imported: int  # recordings written into the proxy
    replaced: int  # of those, how many took the place of one already recorded
    skipped: int  # files of another provider's recordings, left out


class ArchiveProblem(Exception):
    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__(problems)
        self.problems = problems  # (member or None for the archive, reason)


def _unprocessable(problems: Iterable[tuple[str | None, str]]) -> HTTPException:
    detail = [
        {
            "loc": ["body", "file"] if member is None else ["body", member],
            "msg": reason,
            "type": "value_error",
        }
        for member, reason in problems
    ]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


def member_problem(name: str) -> str | None:
    """Why a member name cannot be a recording file of the export layout (None if it can)."""
    if "\\" in name or "\x00" in name:
        return "not a plain relative path"
    if name.startswith("/"):
        return "an absolute path"
    if any(part in ("..", ".", "") for part in name.split("/")):
        return "a path that leaves the archive's directory"
    if not name.endswith(".json") or name.rsplit("/", 1)[-1].startswith("."):
        return "not a recording file (.json)"
    return None


def unpack(archive: IO[bytes], root: Path) -> None:
    """The archive's recording files into root, or ArchiveProblem listing what is wrong (nothing trusted)."""
    try:
        opened = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ArchiveProblem([(None, "not a zip archive")]) from None
    with opened:
        members = [info for info in opened.infolist() if not info.is_dir()]
        if len(members) > MAX_MEMBERS:
            raise ArchiveProblem([(None, f"more than {MAX_MEMBERS} files")])
        problems: list[tuple[str | None, str]] = [
            (info.filename, reason) for info in members if (reason := member_problem(info.filename))
        ]
        if problems:
            raise ArchiveProblem(problems)
        if sum(info.file_size for info in members) > MAX_UNPACKED:
            raise ArchiveProblem([(None, f"larger than {MAX_UNPACKED // (1024 * 1024)} MiB unpacked")])
        budget = MAX_UNPACKED  # the sizes an archive declares are not trusted: the bytes read are counted
        for info in members:
            try:
                with opened.open(info) as source:
                    data = source.read(min(info.file_size, budget) + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError) as exc:
                raise ArchiveProblem([(info.filename, f"cannot be read: {exc}")]) from None
            if len(data) > info.file_size or len(data) > budget:
                raise ArchiveProblem([(info.filename, "larger than the archive says")])
            budget -= len(data)
            target = root.joinpath(*PurePosixPath(info.filename).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def pack(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files):
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _read_upload(archive: IO[bytes], provider: str) -> tuple[list[CachedResponse], int]:
    root = Path(tempfile.mkdtemp(prefix="rubberduck-import-"))
    try:
        unpack(archive, root)
        try:
            entries, others = read_directory(root, provider)
        except BadRecordings as exc:
            raise ArchiveProblem(
                [(path.relative_to(root).as_posix(), why) for path, why in exc.problems]
            ) from None
        return entries, sum(others.values())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def recordings_zip_router(auth: Auth, cache: LayeredCache) -> APIRouter:
    router = APIRouter(prefix="/api/proxies/{proxy_id}/recordings.zip", tags=["recordings"])

    @router.get(
        "",
        response_class=Response,
        responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
    )
    async def download_zip(
        proxy_id: ProxyId,
        namespace: NamespaceFilter = None,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Response:
        """The recordings (all, or one namespace's) as `rubberduck recordings export` writes them, zipped."""
        proxy = await owned_proxy(proxy_id, user, session)
        await cache.settle(proxy.id)  # recordings answered a moment ago are in the zip
        files = [
            (path_for(Path(), entry).as_posix(), data)
            async for entry, data in exported(cache.store, proxy.id, proxy.provider, namespace)
            if data is not None
        ]
        body = await asyncio.to_thread(pack, files)
        name = f"recordings-{proxy.id}" + (f"-{namespace}" if namespace else "") + ".zip"
        return Response(
            body,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.post("", response_model=ZipImported)
    async def upload_zip(
        proxy_id: ProxyId,
        # Optional here and required below: another user's proxy is a 404 whatever the body, not a 422.
        file: Annotated[
            UploadFile | None, File(description="a zip of recording files, as the download gives")
        ] = None,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> ZipImported:
        """Imports every recording of the archive, or none: each bad file is named with its reason (422)."""
        proxy = await owned_proxy(proxy_id, user, session)
        if file is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}],
            )
        if file.size is not None and file.size > MAX_UPLOAD:
            raise _unprocessable([(None, f"larger than {MAX_UPLOAD // (1024 * 1024)} MiB")])
        try:
            entries, skipped = await asyncio.to_thread(_read_upload, file.file, proxy.provider)
        except ArchiveProblem as exc:
            raise _unprocessable(exc.problems) from None
        replaced = await import_entries(cache, proxy.id, entries)
        return ZipImported(imported=len(entries), replaced=replaced, skipped=skipped)

    return router
