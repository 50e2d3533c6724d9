import asyncio
import time

from quart import Quart
from quart.utils import run_sync


def fetch_rates():
    """A blocking library call: 0.3 s."""
    time.sleep(0.3)
    return {"EUR": 1.0, "USD": 1.08}


exchange = Quart("exchange")


@exchange.get("/rates")
async def rates():
    return await run_sync(fetch_rates)()
