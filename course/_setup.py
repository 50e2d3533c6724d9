"""What the course generates instead of committing: TLS files and a sample video.

``python -m course setup`` makes both once (Binder runs it at build time):

- a local certificate authority and a certificate for localhost, made with trustme,
  in ``certs/``. Servers use ``server.pem`` and ``server-key.pem``; clients trust
  ``ca.pem`` (``tls_context()``), so no example ever needs ``verify=False``;
- ``media/sample.webm``, a 30-second video drawn frame by frame with PyAV, for the
  chapters that stream and seek video. Nothing is downloaded.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CERTS = ROOT / "certs"
# COURSE_MEDIA_DIR points elsewhere (tests, benchmarks); apps/video.py reads the same variable.
MEDIA = Path(os.environ.get("COURSE_MEDIA_DIR") or ROOT / "media")
SAMPLE = "sample.webm"


def make_certs(directory: Path = CERTS, force: bool = False) -> Path:
    """Create the CA and a certificate for localhost and 127.0.0.1 (if missing)."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "server-key.pem").exists() and not force:
        return directory
    ca = trustme.CA(organization_name="Quart course local CA")
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    ca.cert_pem.write_to_path(directory / "ca.pem")
    cert.private_key_pem.write_to_path(directory / "server-key.pem")
    (directory / "server-key.pem").chmod(0o600)
    with open(directory / "server.pem", "wb") as chain:
        for blob in cert.cert_chain_pems:
            chain.write(blob.bytes())
    return directory


def server_files() -> tuple[str, str]:
    """Paths of the server certificate and key, made on first use."""
    make_certs()
    return str(CERTS / "server.pem"), str(CERTS / "server-key.pem")


def client_context() -> ssl.SSLContext:
    """An SSL context that trusts the course CA: ``httpx.Client(verify=client_context())``."""
    make_certs()
    return ssl.create_default_context(cafile=str(CERTS / "ca.pem"))


def make_sample_media(directory: Path = MEDIA, seconds: int = 30, force: bool = False) -> Path:
    """Make ``sample.webm`` (VP8, 320x240, a counter and a moving bar) if it is missing."""
    path = directory / SAMPLE
    if path.exists() and not force:
        return path
    import av
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    fps, width, height = 24, 320, 240
    with av.open(str(partial), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 800_000  # a ceiling: simple pictures like these compress to ~300 kB
        for index in range(seconds * fps):
            t = index / fps
            frame = np.zeros((height, width, 3), np.uint8)
            frame[..., 0] = int(127 + 127 * np.sin(t))  # the colour drifts with time
            frame[..., 2] = 90
            frame[height - 24:, : int(width * t / seconds)] = 255  # a progress bar
            _draw_number(frame, int(t), x=110, y=60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(path)  # never a half-written video under the real name
    return path


# Seven-segment digits: which of the segments a b c d e f g are lit.
_SEGMENTS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def _draw_number(frame, number: int, x: int, y: int, w: int = 40, h: int = 100, t: int = 10) -> None:
    boxes = {"a": (0, 0, w, t), "b": (w - t, 0, t, h // 2), "c": (w - t, h // 2, t, h // 2),
             "d": (0, h - t, w, t), "e": (0, h // 2, t, h // 2), "f": (0, 0, t, h // 2),
             "g": (0, h // 2 - t // 2, w, t)}
    for digit in f"{number:02d}":
        for segment in _SEGMENTS[int(digit)]:
            bx, by, bw, bh = boxes[segment]
            frame[y + by:y + by + bh, x + bx:x + bx + bw] = 255
        x += w + 20


def setup() -> None:
    """``python -m course setup``: everything the notebooks need, made once."""
    print("certificates:", make_certs())
    print("sample media:", make_sample_media())
