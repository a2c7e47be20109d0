"""Messages between nodes on one Redis pub/sub channel: config pushes, cache evictions, live log rows.

Pub/sub delivers only to nodes connected at that moment, and that is enough: what a message changes
is also in Postgres, and a node that was cut off re-reads it (`on_resync`) as soon as it is subscribed
again. A `fence` is a publish that waits until every node reached has run its handler (each RPUSHes an
ack to `rd:ack:{id}`, the sender BLPOPs as many acks as PUBLISH reported subscribers): a clear on node A
answers only once no node can still answer from its memory.

Handlers run one at a time, in order, in a worker task rather than in the reader, so a slow handler
never stops the node from acknowledging its own messages and a handler may itself fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from rubberduck.cluster.link import RedisLink, describe, stop_task

logger = logging.getLogger("rubberduck.cluster")

CHANNEL = "rd:bus"  # + the database number: keys are scoped by it, pub/sub channels are not


def channel_for(link: RedisLink) -> str:
    """Two deployments on one Redis server with different database numbers must not hear each other."""
    database = link.client.connection_pool.connection_kwargs.get("db", 0)
    return f"{CHANNEL}:{database}"


BUS_TIMEOUT = 1.0  # publishing is never on a proxied request's path
RETRY_SECONDS = 0.25  # between two attempts to subscribe again
ACK_TTL_SECONDS = 10
QUEUE_LIMIT = 10_000  # messages waiting for the handlers; beyond it they are dropped (and logged)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Message:
    kind: str
    sender: str
    id: str
    include_self: bool
    ack: bool
    payload: dict[str, Any]


def _parse(data: bytes) -> _Message | None:
    """A message another node (maybe of another release) sent; None when it is not one we understand."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    kind, sender, message_id, payload = (raw.get(name) for name in ("kind", "sender", "id", "payload"))
    if not (isinstance(kind, str) and isinstance(sender, str) and isinstance(message_id, str)):
        return None
    if not isinstance(payload, dict):
        return None
    return _Message(kind, sender, message_id, raw.get("self") is True, raw.get("ack") is True, payload)


class ClusterBus:
    def __init__(self, link: RedisLink, node: str) -> None:
        self.link = link
        self.node = node
        self.channel = channel_for(link)
        # The node name is for people; this tells the bus its own messages apart even if two nodes were
        # given the same name.
        self.sender = f"{node}/{secrets.token_hex(6)}"
        self.on_resync: list[Resync] = []
        self.dropped = 0
        self._handlers: dict[str, list[Handler]] = {}
        self._queue: asyncio.Queue[_Message | None] = asyncio.Queue()  # None: resync
        self._subscribed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._subscribed.is_set()

    def subscribe(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def start(self, timeout: float = 2.0) -> None:
        """Subscribe before returning (bounded: with Redis down the node starts and subscribes later)."""
        self._reader = asyncio.create_task(self._read_forever())
        self._worker = asyncio.create_task(self._work_forever())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._subscribed.wait()

    async def aclose(self) -> None:
        for task in (self._reader, self._worker):
            if task is not None:
                await stop_task(task)
        self._reader = self._worker = None
        self._subscribed.clear()

    def _message(
        self, kind: str, payload: dict[str, Any], include_self: bool, ack: bool
    ) -> tuple[str, bytes]:
        message_id = secrets.token_hex(8)
        message = {"kind": kind, "node": self.node, "sender": self.sender, "id": message_id,
                   "self": include_self, "ack": ack, "payload": payload}  # fmt: skip
        return message_id, orjson.dumps(message)

    async def publish(self, kind: str, payload: dict[str, Any], include_self: bool = False) -> bool:
        """Fire and forget: True when Redis took the message, False (never an exception) otherwise."""
        _, data = self._message(kind, payload, include_self, ack=False)
        reached = await self.link.run(
            lambda client: client.publish(self.channel, data), -1, timeout=BUS_TIMEOUT
        )
        return reached >= 0

    async def fence(
        self, kind: str, payload: dict[str, Any], timeout: float = 1.0, include_self: bool = False
    ) -> bool:
        """Publish and wait (at most `timeout`) until every subscribed node has handled it."""
        deadline = time.monotonic() + timeout
        message_id, data = self._message(kind, payload, include_self, ack=True)
        reached = await self.link.run(lambda client: client.publish(self.channel, data), -1, timeout=timeout)
        if reached < 0:
            return False
        acks = f"rd:ack:{message_id}"
        missing = int(reached)
        while missing > 0:
            left = deadline - time.monotonic()
            if left < 0.01:  # BLPOP's 0 would mean "for ever"
                return False

            async def pop(client: Redis, wait: float = left) -> bool:
                return await client.blpop([acks], timeout=wait) is not None

            # Redis answers a BLPOP that timed out itself; the extra second is for a loaded machine.
            if not await self.link.run(pop, False, timeout=left + 1.0):
                return False
            missing -= 1
        return True

    async def _read_forever(self) -> None:
        lost = False
        while True:
            pubsub = self.link.client.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(BUS_TIMEOUT):
                    await pubsub.subscribe(self.channel)
                self._subscribed.set()
                if lost:  # what was published meanwhile never reached us: re-read it, in order
                    logger.warning("cluster bus subscribed again")
                    self._queue.put_nowait(None)
                    lost = False
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message.get("type") == "message":
                        await self._take(message["data"])
            except Exception as error:
                lost = True
                if self._subscribed.is_set():
                    self._subscribed.clear()
                    self.link.mark_down(f"cluster bus: {describe(error, BUS_TIMEOUT)}")
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())
            await asyncio.sleep(RETRY_SECONDS)

    async def _take(self, data: bytes) -> None:
        message = _parse(data)
        if message is None:
            logger.warning("a cluster bus message could not be read")
            return
        if message.sender == self.sender and not message.include_self:
            if message.ack:  # PUBLISH counted us: the fence waits for our ack too
                await self._ack(message.id)
            return
        if self._queue.qsize() >= QUEUE_LIMIT:
            self.dropped += 1
            logger.warning("cluster bus message dropped (%s): the handlers are behind", message.kind)
            return
        self._queue.put_nowait(message)

    async def _work_forever(self) -> None:
        while True:
            message = await self._queue.get()
            if message is None:
                for resync in list(self.on_resync):
                    try:
                        await resync()
                    except Exception:
                        logger.exception("a cluster resync callback failed")
                continue
            for handler in list(self._handlers.get(message.kind, [])):
                try:
                    await handler(message.payload)
                except Exception:
                    logger.exception("a cluster bus handler failed (%s)", message.kind)
            if message.ack:
                await self._ack(message.id)

    async def _ack(self, message_id: str) -> None:
        key = f"rd:ack:{message_id}"

        async def push(client: Redis) -> None:
            async with client.pipeline(transaction=False) as pipe:
                pipe.rpush(key, self.sender)
                pipe.expire(key, ACK_TTL_SECONDS)
                await pipe.execute()

        await self.link.run(push, None, timeout=BUS_TIMEOUT)
