"""The JSON API (documented at /openapi.json and /docs by quart-schema), uploads, and the video files.

Uploads are the body of ``PUT /api/uploads/<name>`` as it is (no multipart form), streamed to
disk by ``apps.upload.save_body`` (chapter 11): a size limit counted as bytes arrive, an idle
timeout and an overall deadline, a partial file deleted on any failure. The name the uploader
gives is checked and kept as a title; the file on disk gets a random name of ours.

Video files and thumbnails go through ``apps.video.send_ranged`` (chapter 12): byte ranges for
seeking, ETags and ``If-None-Match`` for caching.
"""

from __future__ import annotations

import secrets
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint, abort, current_app, request, url_for
from quart_auth import login_required
from quart_schema import document_request, document_response, tag, validate_querystring
from sqlalchemy import delete, select
from werkzeug.exceptions import Forbidden, NotFound, ServiceUnavailable, UnsupportedMediaType

from apps.accounts import User, current_account
from apps.errors import json_body
from apps.upload import is_safe_name, save_body
from apps.video import send_ranged

from .models import STATUSES, TITLE_LENGTH, Video, db

bp = Blueprint("api", __name__)


# --- what the API sends and takes (the OpenAPI document is made from these) ---------------------


class VideoOut(BaseModel):
    id: int
    title: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    size: int
    duration: float | None = Field(description="seconds")
    width: int | None
    height: int | None
    error: str | None = Field(description="why processing failed")
    owner_id: int
    owner: str | None = None
    created_at: datetime


class VideoList(BaseModel):
    videos: list[VideoOut]
    next: str | None = Field(description="the URL of the next (older) page, if there is one")


class ListQuery(BaseModel):
    limit: int = Field(20, ge=1, le=100)
    before: int | None = Field(None, ge=1, le=2**31 - 1, description="only videos with a smaller id")


class TitleIn(BaseModel):
    title: str = Field(min_length=1, max_length=TITLE_LENGTH)


class Error(BaseModel):
    error: str


# --- reading ----------------------------------------------------------------------------------


@bp.get("/api/videos")
@tag(["videos"])
@validate_querystring(ListQuery)
@document_response(VideoList)
async def list_videos(query_args: ListQuery):
    """Ready videos, newest first; ``?before=<id>`` for the next page."""
    query = (select(Video, User.username).join(User).where(Video.status == "ready")
             .order_by(Video.id.desc()).limit(query_args.limit + 1))
    if query_args.before is not None:
        query = query.where(Video.id < query_args.before)
    rows = (await db.session().execute(query)).all()
    videos = [video.to_dict(owner) for video, owner in rows[:query_args.limit]]
    following = None
    if len(rows) > query_args.limit:
        following = url_for("api.list_videos", limit=query_args.limit, before=videos[-1]["id"])
    return {"videos": videos, "next": following}


@bp.get("/api/videos/<id:video_id>")
@tag(["videos"])
@document_response(VideoOut)
@document_response(Error, 404)
async def get_video(video_id: int):
    """One video: any that is ready, or one of your own in any state."""
    video, owner = await _visible(video_id)
    return video.to_dict(owner)


@bp.route("/videos/<id:video_id>/file", methods=["GET", "HEAD"])
@tag(["files"])
async def video_file(video_id: int):
    """The video itself, with byte ranges (seeking) and conditional requests."""
    video, _ = await _visible(video_id)
    return _send(video.filename)


@bp.route("/videos/<id:video_id>/thumbnail", methods=["GET", "HEAD"])
@tag(["files"])
async def thumbnail(video_id: int):
    """A JPEG picture from the video, made while it was processed."""
    video, _ = await _visible(video_id)
    if video.status != "ready":
        raise NotFound("no thumbnail yet: the video is still being processed")
    response = _send(video.thumbnail)
    response.headers["Cache-Control"] = "no-cache"  # keep it, but ask (If-None-Match) before using it
    return response


def _send(filename: str):
    path = current_app.config["VIDEO_DIR"] / filename
    if not path.is_file():
        raise NotFound("the file is gone")
    return send_ranged(path)


async def _visible(video_id: int) -> tuple[Video, str]:
    row = (await db.session().execute(select(Video, User.username).join(User).where(Video.id == video_id))).first()
    user = await current_account()
    if row is None or (row[0].status != "ready" and (user is None or user.id != row[0].owner_id)):
        raise NotFound(f"there is no video {video_id}")
    return row[0], row[1]


@bp.get("/healthz")
@tag(["health"])
async def health():
    """Which worker answered, whether its relay reaches Redis, whether it is draining (load balancers ask)."""
    extensions = current_app.extensions
    draining = extensions["drain"].started.is_set()
    body = {"worker": extensions["worker"], "relay": extensions["relay"].state, "draining": draining}
    return body, 503 if draining else 200


# --- changing ---------------------------------------------------------------------------------


@bp.put("/api/uploads/<path:name>")
@tag(["videos"])
@document_response(VideoOut, 201)
@document_response(Error, 400)
@document_response(Error, 413)
@document_response(Error, 503)
@login_required
async def upload(name: str):
    """Upload a video: the file is the request body (``Content-Type: video/...``), ``name`` its file name.

    ``?title=`` names it (default: the file name). Answers 201 at once; processing follows,
    and its progress is sent to ``/events``. Needs the ``X-CSRF-Token`` header.
    """
    config, extensions = current_app.config, current_app.extensions
    extension = _check_name(name)
    title = _check_title(request.args.get("title") or Path(name).stem)
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise UnsupportedMediaType("send the file itself as the body, not a form")
    if extensions["drain"].started.is_set():
        raise ServiceUnavailable("this server is restarting: upload again in a moment", retry_after=1)
    if extensions["uploads_running"] >= config["MAX_CONCURRENT_UPLOADS"]:
        raise ServiceUnavailable("too many uploads at once: try again in a few seconds", retry_after=5)
    filename = secrets.token_hex(8) + extension  # ours, random: the uploader's name never touches the disk
    destination = config["VIDEO_DIR"] / filename
    extensions["uploads_running"] += 1
    try:
        async with extensions["drain"].deadline():  # SIGTERM: finish within DRAIN_GRACE, or be cancelled
            size = await save_body(destination, config["MAX_VIDEO_SIZE"], config["UPLOAD_IDLE_TIMEOUT"],
                                   config["UPLOAD_DEADLINE"])
    except TimeoutError:  # the drain's deadline (save_body turns its own timeouts into 408)
        raise ServiceUnavailable("this server is restarting: upload again in a moment", retry_after=1) from None
    finally:
        extensions["uploads_running"] -= 1
    user = await current_account()
    video = Video(owner_id=user.id, title=title, filename=filename, size=size)
    session = db.session()
    session.add(video)
    try:
        await session.commit()
    except BaseException:  # the database said no, or the client left: no file without its row
        destination.unlink(missing_ok=True)
        raise
    extensions["processor"].wake.set()  # this process's processor, if it is idle
    return video.to_dict(user.username), 201, {"Location": url_for("api.get_video", video_id=video.id)}


@bp.patch("/api/videos/<id:video_id>")
@tag(["videos"])
@document_request(TitleIn)
@document_response(VideoOut)
@login_required
async def rename(video_id: int):
    """Give one of your videos a new title: ``{"title": "..."}``."""
    data = await json_body()
    title = _check_title(data.get("title") if isinstance(data, dict) else None)
    video = await _own(video_id)
    video.title = title
    await db.session().commit()
    return video.to_dict((await current_account()).username)


@bp.delete("/api/videos/<id:video_id>")
@tag(["videos"])
@document_response(Error, 403)
@login_required
async def remove(video_id: int):
    """Delete one of your videos, its file and its thumbnail."""
    video = await _own(video_id)
    if video.status == "processing":
        abort(409, "the video is being processed: delete it when that is done")
    session = db.session()
    await session.execute(delete(Video).where(Video.id == video.id))
    await session.commit()
    folder = current_app.config["VIDEO_DIR"]
    for filename in (video.filename, video.thumbnail):
        (folder / filename).unlink(missing_ok=True)
    return "", 204


async def _own(video_id: int) -> Video:
    video = await db.session().get(Video, video_id)
    if video is None:
        raise NotFound(f"there is no video {video_id}")
    if video.owner_id != (await current_account()).id:
        raise Forbidden("that is not your video")
    return video


def _check_name(name: str) -> str:
    """The file name's extension if the name is acceptable; 400 (or 415) if not."""
    if not is_safe_name(name):
        abort(400, "a file name may use letters, digits, '.', '-' and '_' (not first, not a last '.'), "
                   "at most 100 characters, and not a device name such as CON or NUL")
    extension = Path(name).suffix.lower()
    if extension not in current_app.config["VIDEO_EXTENSIONS"]:
        raise UnsupportedMediaType(f"upload a video: {', '.join(current_app.config['VIDEO_EXTENSIONS'])}")
    return extension


def _check_title(title) -> str:
    """A title of 1 to TITLE_LENGTH printable characters, spaces squeezed; 422 if there is none."""
    if not isinstance(title, str):
        abort(422, 'send {"title": "..."}')
    title = " ".join(unicodedata.normalize("NFC", title).split())
    if not 0 < len(title) <= TITLE_LENGTH or not title.isprintable():
        abort(422, f"a title has 1 to {TITLE_LENGTH} printable characters")
    return title
