import logging

from quart import Quart, request

audit = Quart("audit")
log = logging.getLogger("audit.requests")
log.setLevel(logging.INFO)


@audit.get("/hello")
async def hello():
    return {"hello": "world"}


@audit.after_request
async def log_request(response):
    log.info("request", extra={
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "request_id": request.headers.get("X-Request-Id"),
    })
    return response
