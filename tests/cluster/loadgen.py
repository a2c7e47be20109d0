"""Many plain requests fast: HTTP/1.1 keep-alive connections on asyncio streams, no client library.

The SDKs (and httpx) cost more CPU per request than the proxy does, so on a shared two-core machine they
would time the client rather than the nodes; this writes the request bytes and reads each answer just far
enough to know its status and where it ends (Content-Length or chunked).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter


async def read_status(reader: asyncio.StreamReader) -> int:
    """Read one whole response; its status code."""
    status = int((await reader.readline()).split(b" ", 2)[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        await reader.readexactly(length)
        return status
    while size := int((await reader.readline()).split(b";")[0].strip(), 16):
        await reader.readexactly(size + 2)  # the chunk and its CRLF
    while (await reader.readline()) not in (b"\r\n", b""):  # trailers
        pass
    return status


def chat_request(host: str, port: int, model: str) -> bytes:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hi"}]}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer sk-test\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def chat_load(targets: list[tuple[str, int]], total: int, concurrency: int) -> Counter[int]:
    """`total` chat requests, the Nth to targets[N % len(targets)] with model `bulk-{N % len(targets)}`,
    `concurrency` at a time; the statuses seen."""
    requests = [chat_request(host, port, f"bulk-{index}") for index, (host, port) in enumerate(targets)]
    statuses: Counter[int] = Counter()
    numbers = itertools.count()

    async def worker() -> None:
        connections: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        try:
            while (number := next(numbers)) < total:
                which = number % len(targets)
                if which not in connections:
                    connections[which] = await asyncio.open_connection(*targets[which])
                reader, writer = connections[which]
                writer.write(requests[which])
                statuses[await asyncio.wait_for(read_status(reader), 30)] += 1
        finally:
            for _, writer in connections.values():
                writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses
