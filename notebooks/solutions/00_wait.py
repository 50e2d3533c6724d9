import asyncio
import time

from quart import Quart

sleeper = Quart("sleeper")

@sleeper.get("/slow")
async def slow():
    await asyncio.sleep(0.3)
    return {"waited": 0.3}
