from quart import Quart, session

counter = Quart("counter")
counter.secret_key = "change me"


@counter.get("/visits")
async def visits():
    session["visits"] = session.get("visits", 0) + 1
    return {"visits": session["visits"]}
