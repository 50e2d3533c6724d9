from quart import Quart, abort, request

limited = Quart("limited")
LIMIT = 1000


@limited.put("/count")
async def count():
    size = 0
    async for chunk in request.body:
        size += len(chunk)
        if size > LIMIT:
            abort(413)
    return {"size": size}
