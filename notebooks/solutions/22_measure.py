import asyncio

import av


def _probe(path):
    """Decode the first video stream of `path` with PyAV (blocking: runs in a worker thread)."""
    with av.open(str(path)) as container:  # not a media file: av.error.InvalidDataError, a ValueError
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        last = None
        for frame in container.decode(stream):  # every frame: is it really playable?
            last = frame.time if frame.time is not None else last
        if last is None:
            raise ValueError("the video stream has no frames")
        duration = container.duration / av.time_base if container.duration else last
        return round(duration, 1), stream.codec_context.width, stream.codec_context.height


async def measure(path):
    """(duration in seconds, width, height) of the video at `path`; ValueError if it is not a video."""
    return await asyncio.to_thread(_probe, path)
