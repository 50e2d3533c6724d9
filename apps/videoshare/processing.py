"""After an upload: read the video with PyAV in a worker thread, keep its duration and a thumbnail.

Decoding is CPU work in C: on the event loop it would stop every chat, stream and upload of
the process for as long as it takes. So it runs in a thread (PyAV releases the GIL while
FFmpeg decodes), and the loop only waits for it and passes its progress on.

The database is the queue. An upload stores a row with ``status="queued"``; a processor
claims it with one conditional UPDATE (``... WHERE status = 'queued'``): of two workers, or
two machines, exactly one wins. Every long step has a deadline: a claim older than
``PROCESSING_TIMEOUT`` belongs to a processor that died, and any processor takes it over. A
process that stops mid-job puts its video back in the queue. Nothing is lost; nothing is
processed twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from quart import Quart
from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError

from .models import Video, db
from .relay import RelayUnavailable

__all__ = ["Cancelled", "Probe", "Processor", "probe"]

log = logging.getLogger(__name__)
THUMBNAIL_WIDTH = 320


class Cancelled(Exception):
    """The server is stopping: the video goes back to the queue."""


@dataclass
class Probe:
    """What processing learned about a video; ``progress`` (0 to 1) is written by the thread as it goes."""

    duration: float | None = None
    width: int | None = None
    height: int | None = None
    progress: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)  # set by the loop: stop soon


def probe(path: Path, thumbnail: Path, state: Probe, *, deadline: float, max_pixels: int) -> Probe:
    """Decode every frame of ``path`` (is it a playable video?), save a JPEG thumbnail. Runs in a thread.

    Raises ``ValueError`` for anything that is not a video we accept (PyAV's own errors are
    ValueErrors too), ``TimeoutError`` past ``deadline`` (time.monotonic()), ``Cancelled``.
    """
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as error:  # its message names the file: say what is wrong, not where
        raise ValueError(f"not a video that can be read: {error.strerror}") from None
    with container:
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        state.width, state.height = stream.codec_context.width, stream.codec_context.height
        if not (0 < state.width * state.height <= max_pixels):
            raise ValueError(f"the picture is {state.width}x{state.height}: at most {max_pixels:,} pixels")
        # The container may say how long it is (MediaRecorder's WebM files do not): then the
        # progress is the time decoded so far, else it stays at 0 until the end.
        expected = container.duration / av.time_base if container.duration else None
        stream.thread_type = "AUTO"  # FFmpeg's own threads for the decoding
        picture, last = None, 0.0
        for frame in container.decode(stream):
            if state.stop.is_set():
                raise Cancelled()
            if time.monotonic() > deadline:
                raise TimeoutError("processing took too long")
            if frame.time is not None:
                last = max(last, frame.time)
                if expected:
                    state.progress = min(last / expected, 0.99)
            # The thumbnail: the frame a third of the way in (or the first, for short clips).
            if picture is None or (expected and frame.time is not None and frame.time <= expected / 3):
                picture = frame
        if picture is None:
            raise ValueError("the video stream has no frames")
        state.duration = round(expected or last, 3)
    _save_jpeg(picture, thumbnail)
    state.progress = 1.0
    return state


def _save_jpeg(frame, path: Path) -> None:
    import av

    height = max(2, round(frame.height * THUMBNAIL_WIDTH / frame.width / 2) * 2)  # even, for yuv420
    small = frame.reformat(width=THUMBNAIL_WIDTH, height=height, format="yuvj420p")
    partial = path.with_name(f".{path.name}.part")
    with av.open(str(partial), "w", format="image2") as out:
        encoder = out.add_stream("mjpeg")
        encoder.width, encoder.height, encoder.pix_fmt = THUMBNAIL_WIDTH, height, "yuvj420p"
        for packet in [*encoder.encode(small), *encoder.encode()]:
            out.mux(packet)
    partial.replace(path)  # a page never shows half a thumbnail


class Processor:
    """Claims queued videos and processes them, one at a time per process (``PROCESSING_WORKERS``)."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.wake = asyncio.Event()  # set by an upload in this process: no need to wait for the poll
        # PROCESSING_WORKERS = 0: this process only serves (another one processes).
        self.pool = ThreadPoolExecutor(max(1, app.config["PROCESSING_WORKERS"]), thread_name_prefix="video-processing")
        self._runners: list[asyncio.Task] = []
        self._active: dict[int, Probe] = {}  # video id -> its processing, while it runs
        self._interrupted: list[int] = []  # videos whose processing the stop cut short

    async def start(self) -> None:
        self._runners = [asyncio.create_task(self._run(), name=f"processor-{n}")
                         for n in range(self.app.config["PROCESSING_WORKERS"])]

    async def stop(self) -> None:
        """Stop processing; a video cut short goes back to the queue (for this or another process)."""
        for state in self._active.values():
            state.stop.set()  # the threads stop at their next frame
        for runner in self._runners:
            runner.cancel()
        for runner in self._runners:
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        await asyncio.to_thread(self.pool.shutdown, wait=True)
        for video_id in self._interrupted:
            await self._finish(video_id, status="queued")

    async def _run(self) -> None:
        config = self.app.config
        while True:
            try:
                video = await self._claim()
            except OperationalError as error:  # the database is busy or away: not a reason to stop
                log.warning("processing: could not look for work (%s); trying again", error.orig)
                await asyncio.sleep(1)
                continue
            if video is None:
                # Nothing to do: wait for an upload here, or poll now and then for uploads to
                # other processes whose processor is busy, and for claims that went stale.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(config["PROCESSING_POLL"]):
                        await self.wake.wait()
                self.wake.clear()
                continue
            try:
                await self._process(video)
            except Exception:  # a bug must not end the processor: log it, mark the video failed
                log.exception("processing video %s failed", video.id)
                await self._finish(video.id, status="failed", error="processing failed (see the server log)")

    async def _claim(self) -> Video | None:
        stale = datetime.now(timezone.utc) - timedelta(seconds=self.app.config["PROCESSING_TIMEOUT"] + 10)
        async with db.new_session(self.app) as session:
            candidates = await session.scalars(
                select(Video.id).where(or_(Video.status == "queued",
                                           (Video.status == "processing") & (Video.claimed_at < stale)))
                .order_by(Video.id).limit(5))
            for video_id in candidates.all():
                now = datetime.now(timezone.utc)
                # The claim: only one UPDATE can change this row from what we saw.
                claimed = await session.execute(
                    update(Video).where(Video.id == video_id)
                    .where(or_(Video.status == "queued", (Video.status == "processing") & (Video.claimed_at < stale)))
                    .values(status="processing", claimed_at=now))
                await session.commit()
                if claimed.rowcount == 1:
                    return await session.get(Video, video_id)
        return None

    async def _process(self, video: Video) -> None:
        config = self.app.config
        folder = Path(config["VIDEO_DIR"])
        state = self._active[video.id] = Probe()
        await self._tell(video, "processing", progress=0.0)
        deadline = time.monotonic() + config["PROCESSING_TIMEOUT"]
        job = asyncio.get_running_loop().run_in_executor(
            self.pool, lambda: probe(folder / video.filename, folder / video.thumbnail, state,
                                     deadline=deadline, max_pixels=config["MAX_VIDEO_PIXELS"]))
        told = 0.0
        try:
            while not job.done():
                # Progress at most every PROGRESS_INTERVAL: one number the thread overwrites,
                # read here, so nothing piles up however fast the frames go.
                await asyncio.wait([job], timeout=config["PROGRESS_INTERVAL"])
                if state.progress - told >= 0.01 and not job.done():
                    told = state.progress
                    await self._tell(video, "processing", progress=round(told, 2))
            await job
        except asyncio.CancelledError:  # the server stops: stop() waits for the thread, requeues the video
            state.stop.set()
            self._interrupted.append(video.id)
            job.add_done_callback(lambda done: done.cancelled() or done.exception())  # seen: not logged
            raise
        except (ValueError, TimeoutError) as error:
            await self._finish(video.id, status="failed", error=str(error)[:200] or type(error).__name__)
            return
        finally:
            del self._active[video.id]
        await self._finish(video.id, status="ready", duration=state.duration, width=state.width, height=state.height)

    async def _finish(self, video_id: int, *, status: str, **values) -> None:
        async with db.new_session(self.app) as session:
            await session.execute(update(Video).where(Video.id == video_id)
                                  .values(status=status, claimed_at=None, **values))
            await session.commit()
            video = await session.get(Video, video_id)
        if video is not None and status != "queued":
            await self._tell(video, status)

    async def _tell(self, video: Video, status: str, **extra) -> None:
        """Tell the uploader's pages (and, once it is ready, everyone's) how the video is doing."""
        relay = self.app.extensions["relay"]
        # "worker": which process did the work (the page that hears of it may be on another).
        message = {"type": "video", **video.to_dict(), "status": status, "worker": self.app.extensions["worker"], **extra}
        rooms = [f"user:{video.owner_id}"] + (["site"] if status == "ready" else [])
        for room in rooms:
            try:
                await relay.publish(room, message)
            except RelayUnavailable:
                pass  # the database has the outcome: a page that reconnects reads it from there
