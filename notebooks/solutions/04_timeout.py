import asyncio

from quart import Quart, request


async def partner(delay):
    """The partner service: answers after `delay` seconds."""
    await asyncio.sleep(delay)
    return 42.0


quotes = Quart("quotes")


@quotes.get("/quote")
async def quote():
    delay = float(request.args.get("delay", "0"))
    try:
        price = await asyncio.wait_for(partner(delay), timeout=0.2)
    except TimeoutError:
        return {"error": "the partner did not answer in time"}, 504
    return {"price": price}
