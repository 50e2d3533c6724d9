"""Two fixes to Hypercorn 0.18's websockets that ``serve()`` applies (chapter 18 shows why).

Hypercorn always accepts permessage-deflate and inflates a whole frame before it checks
``websocket_max_message_size``: 15 KiB on the wire became 16 MiB in memory. And a message
past that limit is kept, with everything the client sends after it. So:

- ``PlainHandshake`` ignores the client's compression offer: a frame costs what was sent;
- ``BoundedBuffer`` checks the size before it holds a piece, and drops a message that is
  too big (the client gets 1009).

Both replace a class that ``hypercorn.protocol.ws_stream`` looks up when a websocket
starts, so they apply to every Hypercorn server in this process; only versions checked
against are changed.
"""

from __future__ import annotations

import warnings
from importlib.metadata import version

import hypercorn.protocol.ws_stream as ws_stream

CHECKED = {"0.18.0"}


class PlainHandshake(ws_stream.Handshake):
    """Hypercorn's handshake, as if the client had offered no extension."""

    def __init__(self, headers, http_version) -> None:
        super().__init__(headers, http_version)
        self.extensions = None


class BoundedBuffer(ws_stream.WebsocketBuffer):
    """Hypercorn's message buffer, but it checks before it holds, and lets go when too big."""

    def extend(self, event) -> None:
        if self.length + len(event.data) > self.max_length:
            self.clear()
            raise ws_stream.FrameTooLargeError()
        super().extend(event)


def harden_websockets() -> bool:
    """Apply both fixes if this Hypercorn is one they were checked against."""
    if version("hypercorn") not in CHECKED:
        warnings.warn(f"hypercorn {version('hypercorn')}: websocket fixes not applied (checked: {CHECKED})")
        return False
    ws_stream.Handshake = PlainHandshake
    ws_stream.WebsocketBuffer = BoundedBuffer
    return True
