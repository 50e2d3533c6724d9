"""What each Hypercorn worker serves: the site, with the kit's two websocket fixes for Hypercorn 0.18.

``hypercorn --config apps/videoshare/hypercorn.toml --workers 2 apps.videoshare.worker:app``

Chapter 18 shows why they matter (a compressed frame is inflated whole before its size is
checked; a message past the limit is kept, with everything the client sends after it) and
applies them in a ``--config python:`` module. That module runs in Hypercorn's main process
only: with ``--workers N`` each worker is a fresh interpreter (multiprocessing's "spawn")
that imports the app and nothing else. So the fixes are applied here, on the way every
worker passes. (nginx already refuses compression; the second fix it cannot give.)
"""

from course._websockets import harden_websockets

harden_websockets()  # in this worker process: replaces two classes of hypercorn.protocol.ws_stream

from apps.videoshare import app  # noqa: E402  (imported after the fix, as a reader expects)

__all__ = ["app"]
