"""Scale-out: chat messages delivered per second by 1, 2 and 4 workers behind nginx, and what the Redis hop costs.

The capstone's chat (apps/videoshare) is measured as it is deployed (``deploy()``: Redis,
Hypercorn workers, nginx), next to one process with its in-memory broker (behind nginx too):

- deliveries/s: R readers and 4 senders in one room; every message reaches every client
  (R + 4 deliveries). Each sender keeps at most WINDOW of its messages in flight (it waits
  to hear its own), so no reader falls far behind and none is dropped. The clients run in
  this process, on the same cores as the servers: on a 2-core machine more workers share
  the same two cores with the clients, and the figures say how much that buys.
- the Redis hop: one message at a time from one client to another on the same worker,
  reached directly, with and without Redis: the added median and p99 latency is the hop alone.

Nothing here is asserted; ``python -m bench --only scaleout`` prints it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from bench import Row

GROUP = "scaleout"
SENDERS, WINDOW = 4, 16
# No rate limit for the benchmark's senders; everything else as deployed.
CONFIG = {"PASSWORD_HASH_PROFILE": "CHEAPEST", "CHAT_RATE": 1e9, "CHAT_BURST": 10**9, "CHAT_HISTORY": 0,
          "LOG_LEVEL": "WARNING"}


def run(quick: bool = False, progress=lambda label: None) -> list[Row]:
    from course.services import missing

    problem = missing("redis-server", "nginx")
    if problem:
        raise RuntimeError(f"the scale-out benchmark needs Redis and nginx: {problem}")
    readers, messages, samples, runs = (40, 60, 300, 1) if quick else (100, 200, 2000, 3)
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as folder:
        return _measure(_sample_video(Path(folder)), readers, messages, samples, runs, progress)


def _measure(video: Path, readers: int, messages: int, samples: int, runs: int, progress) -> list[Row]:
    from apps.videoshare.deploy import deploy

    def rate(site) -> float:  # the median of ``runs`` runs: other work on the machine comes and goes
        visitor, room = _visitor(site.url, video)
        return statistics.median(asyncio.run(_deliveries(visitor, room, readers, messages)) for _ in range(runs))

    progress("1 process, and 1 worker with Redis")
    # Side by side, so that the latencies are sampled in turns, under the same conditions.
    with deploy(1, 1, redis=False, config=CONFIG, name="bench-plain") as plain, \
            deploy(1, 1, config=CONFIG, name="bench-redis") as relayed:
        single, rates = rate(plain), {1: rate(relayed)}
        local, hop = asyncio.run(_latencies([plain.machines[0].url, relayed.machines[0].url], video, samples))
    for workers in (2, 4):
        progress(f"{workers} workers with Redis")
        with deploy(1, workers, config=CONFIG, name="bench-redis") as site:
            rates[workers] = rate(site)
    rows = [_row("chat deliveries/s: 1 process, no Redis, nginx", single, "msg/s")]
    rows += [_row(f"chat deliveries/s: {n} worker{'s' if n > 1 else ''} + Redis + nginx", rates[n], "msg/s",
                  single, "1 process") for n in (1, 2, 4)]
    for name, share in (("median", 0.5), ("p99", 0.99)):
        without, with_redis = _percentile(local, share), _percentile(hop, share)
        rows.append(_row(f"chat latency, {name}: in-memory broker", without, "ms"))
        rows.append(_row(f"chat latency, {name}: through Redis", with_redis, "ms", without, "in-memory"))
        rows.append(_row(f"added by the Redis hop, {name}", with_redis - without, "ms"))
    return rows


def _row(name: str, value: float, unit: str, reference: float | None = None, vs: str = "") -> Row:
    """A Row; ``reference`` is what the value is compared with (named ``vs`` where Row has that field)."""
    extra = {"vs": vs} if vs and "vs" in {f.name for f in dataclasses.fields(Row)} else {}
    return Row(GROUP, name, value, unit, reference, **extra)


def _sample_video(folder: Path) -> Path:
    from course._setup import make_sample_media

    return make_sample_media(folder, seconds=1)  # the chat room needs a video, any video


_names = itertools.count(1)


def _visitor(url: str, video: Path):
    """A newly signed-up visitor and the id of a ready video of theirs: the chat room."""
    from apps.videoshare.client import Visitor

    visitor = Visitor(url, f"bench{next(_names)}").sign_up()
    return visitor, visitor.wait_until_ready(visitor.upload(video)["id"])["id"]


async def _open(visitor, room: int, count: int) -> tuple[list, list]:
    contexts = [visitor.chat(room) for _ in range(count)]
    chats = []
    for start in range(0, count, 25):  # in batches: Hypercorn's listen backlog is 100
        chats += await asyncio.gather(*(c.__aenter__() for c in contexts[start:start + 25]))
    for chat in chats:
        chat.worker = (await chat.until("welcome"))["worker"]
    return contexts, chats


async def _close(contexts: list) -> None:
    await asyncio.gather(*(c.__aexit__(None, None, None) for c in contexts), return_exceptions=True)


async def _deliveries(visitor, room: int, readers: int, messages: int) -> float:
    """Messages delivered per second to all clients of one room, SENDERS sending at once."""
    contexts, chats = await _open(visitor, room, readers + SENDERS)
    try:
        by_worker: dict[str, list] = {}
        for chat in chats:
            by_worker.setdefault(chat.worker, []).append(chat)
        pools = list(by_worker.values())  # senders on as many different workers as there are
        senders = [pools[n % len(pools)][n // len(pools)] for n in range(SENDERS)]
        total = SENDERS * messages
        heard = [0] * SENDERS  # how many of its own messages each sender has heard back
        moved = [asyncio.Event() for _ in range(SENDERS)]

        async def read(chat) -> None:
            own = senders.index(chat) if chat in senders else None
            got = 0
            while got < total:
                message = await chat.receive_json(timeout=120)
                if message.get("type") != "message":
                    continue
                got += 1
                if own is not None and message["text"].startswith(f"{own}:"):
                    heard[own] += 1
                    moved[own].set()

        async def send(n: int, chat) -> None:
            for i in range(messages):
                while i - heard[n] >= WINDOW:
                    moved[n].clear()
                    await moved[n].wait()
                await chat.send_json({"text": f"{n}:{i}"})

        start = time.perf_counter()
        await asyncio.gather(*(read(chat) for chat in chats), *(send(n, s) for n, s in enumerate(senders)))
        return total * len(chats) / (time.perf_counter() - start)
    finally:
        await _close(contexts)


async def _latencies(urls: list[str], video: Path, samples: int) -> list[list[float]]:
    """For each site (reached at one worker directly): milliseconds from one client's send to
    another client's receipt, one message at a time, the sites taking turns."""
    pairs, contexts = [], []
    for url in urls:
        visitor, room = _visitor(url, video)
        opened, chats = await _open(visitor, room, 2)
        contexts += opened
        pairs.append(chats)
    try:
        times: list[list[float]] = [[] for _ in urls]
        for n in range(samples):
            for (sender, receiver), found in zip(pairs, times):
                start = time.perf_counter()
                await sender.send_json({"text": str(n)})
                while (await receiver.receive_json()).get("text") != str(n):
                    pass
                found.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        await _close(contexts)


def _percentile(values: list[float], share: float) -> float:
    """The value ``share`` of the way up the sorted values (0.5: the median)."""
    if share == 0.5:
        return statistics.median(values)
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
