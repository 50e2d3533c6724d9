"""One message, every subscriber, in every process: the chat's Broker, relayed through Redis.

The chat of chapter 08 keeps its rooms in one process's memory (``apps.chat.Broker``): with
two Hypercorn workers, a message sent to worker A never reaches a reader on worker B. Redis
pub/sub joins them up::

    worker A: relay.publish("chat:7", msg) ──PUBLISH──▶ Redis ──▶ every process's subscriber
                                                                   └▶ its Broker ─▶ its clients

- Each process holds ONE subscriber connection (a pattern for all our channels), and hands
  what arrives to its local ``Broker``, which puts it in each local client's bounded inbox
  without an ``await`` in between. Redis sends every subscriber the messages of a channel
  in the one order it received them, so every client everywhere sees the same order.
- A message is never delivered straight to the local broker as well: it would arrive twice.
- Without ``REDIS_URL`` there is one process, and ``publish`` goes straight to the broker.
- Redis is down: ``publish`` raises ``RelayUnavailable`` at once (the sender is told), and
  every local subscriber gets ``{"type": "relay", "state": "down"}``; the subscriber
  connects again with a growing pause, and says ``"up"`` when it is back. Pub/sub keeps
  nothing: what was published while a process was not subscribed is not replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from apps.chat import Broker

__all__ = ["Relay", "RelayUnavailable"]

log = logging.getLogger(__name__)


class RelayUnavailable(Exception):
    """Redis cannot take the message now: tell the sender, do not pretend it was sent."""


class Relay:
    """``await relay.publish(room, message)``; ``relay.subscribe(room)`` is the broker's bounded inbox."""

    def __init__(self, broker: Broker, url: str | None = None, *, prefix: str = "videoshare:",
                 timeout: float = 2.0) -> None:
        self.broker, self.url, self.prefix, self.timeout = broker, url, prefix, timeout
        self.state = "local" if url is None else "connecting"  # then "up" or "down"
        self._redis = None
        self._listener: asyncio.Task | None = None
        self._up = asyncio.Event()

    def subscribe(self, room: str):
        """``async with relay.subscribe(room) as inbox``: messages for this room, in order."""
        return self.broker.subscribe(room)

    async def publish(self, room: str, message: dict) -> None:
        """Deliver ``message`` to every subscriber of ``room`` in every process (or raise)."""
        if self.url is None:
            self.broker.publish(room, message)
            return
        if self.state != "up":
            raise RelayUnavailable("the chat relay (Redis) is unreachable: not sent, try again shortly")
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self.timeout):  # a hung Redis must not hang the sender
                await self._redis.publish(self.prefix + room, json.dumps(message))
        except (RedisError, OSError, TimeoutError) as error:
            raise RelayUnavailable(f"the chat relay (Redis) failed: not sent ({error})") from None

    async def start(self) -> None:
        """Connect (``before_serving``); waits up to ``timeout`` for Redis, then carries on trying."""
        if self.url is None:
            return
        import redis.asyncio as redis

        # health_check_interval: a quiet connection is PINGed, so a Redis that hangs is noticed.
        self._redis = redis.Redis.from_url(self.url, socket_connect_timeout=self.timeout,
                                           health_check_interval=10, socket_keepalive=True)
        self._listener = asyncio.create_task(self._listen(), name="relay-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                await self._up.wait()

    async def stop(self) -> None:
        """Disconnect (``after_serving``)."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._redis is not None:
            await self._redis.aclose()

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        pause = 0.05
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.prefix + "*")
                if self.state == "down":  # Redis is back: the publishers' old connections are dead
                    await self._redis.connection_pool.disconnect(inuse_connections=False)
                self._set_state("up")
                pause = 0.05
                async for message in pubsub.listen():
                    self._deliver(message)
            except (RedisError, OSError) as error:
                if self.state != "down":
                    log.warning("relay: lost Redis at %s (%s); retrying", self.url, error)
                self._set_state("down")
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)  # retry soon, then every 2 s: no storm of reconnections

    def _deliver(self, message: dict) -> None:
        channel = message["channel"].decode()
        try:
            payload = json.loads(message["data"])
        except (ValueError, TypeError):
            log.warning("relay: dropped a message that is not JSON on %s", channel)
            return
        self.broker.publish(channel.removeprefix(self.prefix), payload)

    def _set_state(self, state: str) -> None:
        previous, self.state = self.state, state
        if state == "up":
            self._up.set()
        else:
            self._up.clear()
        if previous in ("up", "down") and previous != state:  # a change the clients should see
            notice = {"type": "relay", "state": state}
            for room in list(self.broker.rooms):
                self.broker.publish(room, notice)
