"""A scripted visitor of a running video site: what the tests, the benchmark and the notebooks use.

::

    from apps.videoshare.client import Visitor

    ada = Visitor(site.url, "ada")            # any server: a deployment, serve(app), a machine
    ada.sign_up()                              # or ada.sign_in(); then ada.cookies is the sign-in
    video = ada.upload("media/sample.webm", title="Counting")
    ada.wait_until_ready(video["id"])          # polls the API (the page uses /events instead)
    async with ada.chat(video["id"]) as chat:  # a websocket, signed in
        await chat.send_json({"text": "hi", "at": 1.5})
        message = await chat.receive_json()
    async for event in ada.events():           # /events, parsed as EventSource does
        ...
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import httpx
import websockets

from apps.events import EventStreamParser

__all__ = ["Chat", "PASSWORD", "Visitor"]

PASSWORD = "correct horse battery staple"


class Visitor:
    """One person: a cookie jar, a CSRF token, and the site's URL."""

    def __init__(self, url: str, username: str, password: str = PASSWORD, *, verify: ssl.SSLContext | bool = True) -> None:
        self.url, self.username, self.password, self.verify = url.rstrip("/"), username, password, verify
        self.http = httpx.Client(base_url=self.url, verify=verify, trust_env=False, timeout=30)
        self.csrf = ""

    def sign_up(self) -> Visitor:
        return self._form("signup")

    def sign_in(self) -> Visitor:
        return self._form("login")

    @property
    def cookies(self) -> str:
        """The ``Cookie`` header a websocket or another client needs to be this visitor."""
        return "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())

    def upload(self, path: str | Path, *, title: str | None = None, name: str | None = None) -> dict:
        """Upload a file as ``PUT api/uploads/<name>``; the video's JSON (raises for an error answer)."""
        path = Path(path)
        with open(path, "rb") as body:
            response = self.http.put(f"/api/uploads/{name or path.name}", params={"title": title} if title else {},
                                     content=body, headers={"X-CSRF-Token": self.csrf, "Content-Type": "video/webm"})
        return _json(response)

    def video(self, video_id: int) -> dict:
        return _json(self.http.get(f"/api/videos/{video_id}"))

    def wait_until_ready(self, video_id: int, timeout: float = 60) -> dict:
        """Poll until processing is over (``ready`` or ``failed``); the video's JSON."""
        deadline = time.monotonic() + timeout
        while (video := self.video(video_id))["status"] not in ("ready", "failed"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"video {video_id} still {video['status']} after {timeout} s")
            time.sleep(0.05)
        return video

    @asynccontextmanager
    async def chat(self, video_id: int, **options) -> AsyncIterator[Chat]:
        """A signed-in websocket on ``video_id``'s chat (``websockets`` options pass through).

        ``max_queue=None`` by default: websockets stops reading from the socket while 16
        messages wait unread, and a chat that closes with joins and leaves unread would then
        wait 10 s for the server's closing frame, stuck behind them.
        """
        url = self.url.replace("http", "ws", 1) + f"/videos/{video_id}/chat"
        options.setdefault("max_queue", None)
        ssl_context = self.verify if isinstance(self.verify, ssl.SSLContext) else None
        async with websockets.connect(url, additional_headers={"Cookie": self.cookies}, proxy=None,
                                      ssl=ssl_context if url.startswith("wss") else None, **options) as socket:
            yield Chat(socket)

    async def events(self, timeout: float = 30) -> AsyncIterator[dict]:
        """The visitor's ``/events`` stream: dicts with ``event`` and ``data`` (already parsed JSON)."""
        async with httpx.AsyncClient(base_url=self.url, verify=self.verify, trust_env=False,
                                     cookies=self.http.cookies, timeout=timeout) as client:
            async with client.stream("GET", "/events", headers={"Accept": "text/event-stream"}) as response:
                response.raise_for_status()
                parser = EventStreamParser()
                async for chunk in response.aiter_text():
                    for event in parser.feed(chunk):
                        yield {**event, "data": json.loads(event["data"])}

    def close(self) -> None:
        self.http.close()

    def _form(self, path: str) -> Visitor:
        page = self.http.get(f"/{path}").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = self.http.post(f"/{path}", data={"username": self.username, "password": self.password,
                                                    "csrf_token": token})
        if response.status_code != 303:
            raise RuntimeError(f"{path} as {self.username}: {response.status_code} {response.text[:300]}")
        # Signing in gives a new CSRF token: the pages carry it in a <meta> tag.
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', self.http.get("/").text).group(1)
        return self


class Chat:
    """A chat websocket: ``send_json``, ``receive_json``, ``messages(n)``; ``socket`` is the raw one."""

    def __init__(self, socket) -> None:
        self.socket = socket

    async def send_json(self, data: dict) -> None:
        await self.socket.send(json.dumps(data))

    async def receive_json(self, timeout: float = 10) -> dict:
        async with asyncio.timeout(timeout):
            return json.loads(await self.socket.recv())

    async def until(self, kind: str, timeout: float = 10) -> dict:
        """The next message of type ``kind`` (skipping the others)."""
        async with asyncio.timeout(timeout):
            while (message := await self.receive_json(timeout)).get("type") != kind:
                pass
            return message

    async def messages(self, count: int, timeout: float = 30) -> list[dict]:
        """The next ``count`` chat messages (``type == "message"``), other kinds skipped."""
        found: list[dict] = []
        async with asyncio.timeout(timeout):
            while len(found) < count:
                message = await self.receive_json(timeout)
                if message.get("type") == "message" and not message.get("replay"):
                    found.append(message)
        return found


def _json(response: httpx.Response) -> dict:
    if response.is_error:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")
    return response.json()
