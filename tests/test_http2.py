"""HTTP/2: negotiated by ALPN over TLS with the course's CA, and h2c by prior knowledge."""

from __future__ import annotations

import ssl
import subprocess

import httpx
import pytest
from quart import Quart, request

from apps.upload import create_app as create_upload_app
from apps.video import create_app as create_video_app
from course import serve, tls_context


def protocol_app() -> Quart:
    app = Quart("protocol")

    @app.get("/version")
    async def version():
        return {"http_version": request.http_version, "scheme": request.scheme}

    return app


def test_httpx_negotiates_http2_with_the_course_ca(certs):
    with serve(protocol_app(), tls=True) as server:
        assert server.url.startswith("https://")
        with httpx.Client(http2=True, verify=tls_context()) as client:
            response = client.get(server.url + "/version")
        assert response.http_version == "HTTP/2"
        assert response.json() == {"http_version": "2", "scheme": "https"}
        with httpx.Client(verify=tls_context()) as client:  # http2 off: ALPN picks HTTP/1.1
            assert client.get(server.url + "/version").json()["http_version"] == "1.1"


def test_the_default_trust_store_rejects_the_course_certificate(certs):
    with serve(protocol_app(), tls=True) as server:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(server.url + "/version", verify=ssl.create_default_context())


def test_curl_negotiates_http2_with_the_course_ca(certs):
    with serve(protocol_app(), tls=True) as server:
        result = subprocess.run(
            ["curl", "--silent", "--show-error", "--http2", "--cacert", str(certs / "ca.pem"),
             "--write-out", "\n%{http_version}", server.url + "/version"],
            capture_output=True, text=True, timeout=30, check=True)
    body, version = result.stdout.rsplit("\n", 1)
    assert version == "2"
    assert '"http_version":"2"' in body


def test_h2c_with_prior_knowledge_on_plain_http():
    with serve(protocol_app()) as server:
        assert server.url.startswith("http://")
        with httpx.Client(http1=False, http2=True) as client:
            response = client.get(server.url + "/version")
        assert response.http_version == "HTTP/2"
        assert response.json()["http_version"] == "2"


def test_many_requests_share_one_http2_connection(certs):
    import asyncio

    async def fetch_all(url):
        async with httpx.AsyncClient(http2=True, verify=tls_context()) as client:
            responses = await asyncio.gather(*(client.get(url) for _ in range(20)))
            return responses, len(client._transport._pool.connections)

    with serve(protocol_app(), tls=True) as server:
        responses, connections = asyncio.run(fetch_all(server.url + "/version"))
    assert responses and all(r.http_version == "HTTP/2" for r in responses)
    assert connections == 1


def test_streamed_upload_and_ranges_over_http2(certs, tmp_path):
    (tmp_path / "clip.bin").write_bytes(bytes(range(256)) * 4)
    upload_app = create_upload_app({"UPLOAD_DIR": tmp_path / "up", "MAX_UPLOAD": 1024 * 1024})
    with serve(upload_app, tls=True, name="upload-h2") as up, \
            serve(create_video_app({"MEDIA_DIR": tmp_path}), tls=True, name="video-h2") as video, \
            httpx.Client(http2=True, verify=tls_context()) as client:
        response = client.put(up.url + "/files/h2.bin", content=(b"h" * 10_000 for _ in range(20)))
        assert response.http_version == "HTTP/2"
        assert response.status_code == 201 and response.json()["size"] == 200_000
        ranged = client.get(video.url + "/media/clip.bin", headers={"Range": "bytes=-4"})
        assert ranged.status_code == 206 and ranged.content == bytes([252, 253, 254, 255])
    assert sorted(p.name for p in (tmp_path / "up").iterdir()) == ["h2.bin"]


def test_oversize_upload_over_http2_leaves_no_partial_file(certs, tmp_path):
    """Hypercorn 0.18 bug: DATA frames that arrive after the 413 was sent raise KeyError in
    its HTTP/2 protocol, which drops the whole connection; the client then sees a disconnect
    instead of the 413. The file system stays clean either way."""
    upload_app = create_upload_app({"UPLOAD_DIR": tmp_path, "MAX_UPLOAD": 64 * 1024})
    with serve(upload_app, tls=True, name="upload-h2") as up, \
            httpx.Client(http2=True, verify=tls_context()) as client:
        try:
            status = client.put(up.url + "/files/big.bin", content=(b"b" * 65536 for _ in range(32))).status_code
        except (httpx.RemoteProtocolError, httpx.WriteError):  # dropped, or reset while still sending
            status = "disconnected"
        assert status in (413, "disconnected")
    assert list(tmp_path.iterdir()) == []
