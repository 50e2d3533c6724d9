"""Exercises of chapter 22, the capstone's uploads and processing.

The claim is checked on a SQLite file of its own with the site's tables, by two sessions
racing for one video. The measuring function is run on the course's sample video and on
files that are not videos (made here: random bytes, nothing, a sound without a picture);
whether it decodes off the event loop is counted with ``peak_concurrency``: order, not time.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import tempfile
from pathlib import Path

from course.exercises import Exercise, Incorrect, NotAttempted, checklist, peak_concurrency


@contextlib.asynccontextmanager
async def _database():
    """A fresh SQLite file with the site's tables (users and videos), and a session maker."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from apps.database import make_engine
    from apps.videoshare.models import Base

    with tempfile.TemporaryDirectory(prefix="22-check-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'site.sqlite'}")
        try:
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
            yield async_sessionmaker(engine, expire_on_commit=False)
        finally:
            await engine.dispose()


class Claim(Exercise):
    """Fill in claim(): one conditional UPDATE, so that of two processors racing for a video exactly one wins."""

    id = "22_claim"
    hints = [
        "The UPDATE may change the row only while it is still waiting: add `Video.status == \"queued\"` to "
        "its `where(...)`. Two processors may both have *seen* it queued; only the first UPDATE still "
        "matches when it runs.",
        "`result.rowcount` is how many rows the UPDATE changed: `return result.rowcount == 1`.",
    ]
    wrong = [
        ('Video.status == "queued"', 'Video.status != "failed"'),
        ("return result.rowcount == 1", "return True"),
        # check, then act: both processors read "queued" before either writes
        ("    result = await session.execute(\n        update(Video)\n        .where(Video.id == video_id, "
         "Video.status == \"queued\")",
         "    video = await session.get(Video, video_id)\n    if video is None or video.status != \"queued\":\n"
         "        return False\n    result = await session.execute(\n        update(Video)\n"
         "        .where(Video.id == video_id)"),
    ]

    async def _check(self, claim):
        from sqlalchemy import select

        from apps.accounts import User
        from apps.videoshare.models import Video

        if not inspect.iscoroutinefunction(claim):
            raise Incorrect("keep claim an `async def`: it awaits the database.")
        async with _database() as sessions:
            async with sessions() as session:
                session.add(User(username="ada", password_hash="-"))
                session.add_all([Video(owner_id=1, title=title, filename=f"{n}.webm", size=1, status=status)
                                 for n, (title, status) in enumerate([("waiting", "queued"), ("done", "ready")])])
                await session.commit()

            async def race(video_id: int) -> list:
                """Two claims at once; each waits at its UPDATE until both got there (whatever they read before)."""
                barrier = asyncio.Barrier(2)
                async with sessions() as first, sessions() as second:
                    return list(await asyncio.gather(claim(_Racing(first, barrier), video_id),
                                                     claim(_Racing(second, barrier), video_id)))

            async def row(video_id: int):
                async with sessions() as session:
                    return await session.scalar(select(Video).where(Video.id == video_id))

            with checklist() as expect:
                won = await race(1)
                expect(sorted(won) == [False, True], f"two processors claimed a queued video at once and got {won}: "
                                                     "exactly one must win (True), the other lose (False).")
                video = await row(1)
                expect(video.status == "processing" and video.claimed_at is not None,
                       f"after the claim the video is {video.status!r} (claimed_at {video.claimed_at}): "
                       "it should be 'processing', with the time of the claim.")
                again = await race(1)
                expect(again == [False, False], f"claiming the video a processor already has gave {again}: "
                                                "nobody may take it over (it is no longer queued).")
                ready = await race(2)
                expect(ready == [False, False] and (await row(2)).status == "ready",
                       f"claiming a ready video gave {ready}: only queued videos can be claimed, and a ready one "
                       "stays ready.")
                missing = await race(99)
                expect(missing == [False, False], f"claiming a video that does not exist gave {missing}, not False.")


class _Racing:
    """A session whose first UPDATE waits until the other claim reaches its own: the worst timing, every time.

    Two processes that both read "queued" before either writes is what happens in
    production now and then; here it happens on every check.
    """

    def __init__(self, session, barrier: asyncio.Barrier) -> None:
        self._session, self._barrier, self._waited = session, barrier, False

    def __getattr__(self, name: str):
        return getattr(self._session, name)

    async def _ready(self, statement) -> None:
        from sqlalchemy.sql.dml import Update

        if isinstance(statement, Update) and not self._waited:
            self._waited = True
            with contextlib.suppress(TimeoutError):  # a claim that never updates: do not wait for it
                async with asyncio.timeout(2):
                    await self._barrier.wait()

    async def execute(self, statement, *args, **kwargs):
        await self._ready(statement)
        return await self._session.execute(statement, *args, **kwargs)

    async def scalar(self, statement, *args, **kwargs):
        await self._ready(statement)
        return await self._session.scalar(statement, *args, **kwargs)

    async def scalars(self, statement, *args, **kwargs):
        await self._ready(statement)
        return await self._session.scalars(statement, *args, **kwargs)


def _sample() -> Path:
    from apps.video import MEDIA, SAMPLE

    path = MEDIA / SAMPLE
    if not path.exists():
        raise Incorrect(f"the sample video {path} is missing: run `python -m course setup` once, then check again.")
    return path


def _sound_only(path: Path) -> Path:
    """A WebM file holding a second of silence and no picture."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        for _ in range(50):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), dtype=np.int16), format="s16", layout="mono")
            frame.sample_rate = 48000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class Measure(Exercise):
    """Build measure(path): (duration, width, height) of a video, decoded in a thread; ValueError if not a video."""

    id = "22_measure"
    hints = [
        "Write the PyAV part as a plain function, `_probe(path)`: `with av.open(str(path)) as container:`, "
        "refuse a file without `container.streams.video` with `ValueError`, decode its frames "
        "(`for frame in container.decode(stream)`), and return the duration (`container.duration / "
        "av.time_base`, or the last frame's `frame.time`) with `stream.codec_context.width` and `.height`. "
        "PyAV raises `av.error.InvalidDataError`, a `ValueError`, for a file it cannot read.",
        "`measure` only hands the work to a worker thread: `return await asyncio.to_thread(_probe, path)`. "
        "Decoding on the event loop would stop every other request of the process meanwhile (chapter 04).",
    ]
    wrong = [
        ("return await asyncio.to_thread(_probe, path)", "return _probe(path)"),
        ("        if not container.streams.video:\n            raise ValueError(\"the file has no video stream\")\n",
         ""),
        ("stream.codec_context.width, stream.codec_context.height",
         "stream.codec_context.height, stream.codec_context.width"),
    ]

    async def _check(self, measure):
        from quart import Quart

        if not inspect.iscoroutinefunction(measure):
            raise Incorrect("make measure an `async def`: it awaits the worker thread.")
        sample = _sample()
        with tempfile.TemporaryDirectory(prefix="22-check-") as folder, checklist() as expect:
            folder = Path(folder)
            try:
                found = await measure(sample)
            except Exception as error:
                raise Incorrect(f"measure(sample.webm) raised {type(error).__name__}: {error}") from None
            right = (isinstance(found, tuple) and len(found) == 3 and isinstance(found[0], (int, float))
                     and abs(found[0] - 30) <= 0.1 and tuple(found[1:]) == (320, 240))
            expect(right, f"measure(sample.webm) gave {found!r}: the sample lasts 30 s at 320x240, so "
                          "(30.0, 320, 240).")
            bad = {"random bytes": os.urandom(4000), "an empty file": b"", "some text": b"hello " * 100}
            for what, data in bad.items():
                path = folder / f"{what.replace(' ', '_')}.webm"
                path.write_bytes(data)
                outcome = await _outcome(measure, path)
                expect(outcome == "ValueError", f"measure() of {what} named .webm {outcome}: raise ValueError for "
                                                "anything that is not a video.")
            sound = _sound_only(folder / "sound.webm")
            outcome = await _outcome(measure, sound)
            expect(outcome == "ValueError", f"measure() of a sound file without a picture {outcome}: raise "
                                            "ValueError when the file has no video stream.")
            app = Quart("measuring")

            @app.get("/")
            async def measured():
                duration, width, height = await measure(sample)
                return {"duration": duration}

            together = await peak_concurrency(app, "/", 3)
            expect(together >= 2, f"of 3 requests that each measured the sample, {together} ran at a time: the "
                                  "decoding held the event loop. Run it in a worker thread (asyncio.to_thread).")


async def _outcome(measure, path: Path) -> str:
    """What measure(path) did, in words: 'ValueError', 'raised IndexError: ...', 'returned ...'."""
    try:
        found = await measure(path)
    except ValueError:
        return "ValueError"
    except Exception as error:
        return f"raised {type(error).__name__} ({error})"
    return f"returned {found!r}"


q1 = Claim()
q2 = Measure()
