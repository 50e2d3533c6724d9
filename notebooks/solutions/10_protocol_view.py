from quart import Quart, request

proto = Quart("proto")


@proto.get("/version")
async def version():
    return {"http_version": request.http_version}
