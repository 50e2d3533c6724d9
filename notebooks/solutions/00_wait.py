import asyncio
import time

from quart import Quart

sleeper = Quart("sleeper")


@sleeper.get("/slow")
async def slow():
    await asyncio.sleep(0.2)
    return {"waited": 0.2}


@sleeper.get("/ping")
async def ping():
    return {"pong": True}
