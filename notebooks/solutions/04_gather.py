import asyncio

from quart import Quart


async def fetch(service):
    """Pretend to call another service: 0.2 s."""
    await asyncio.sleep(0.2)
    return f"{service}: ok"


dashboard = Quart("dashboard")


@dashboard.get("/dashboard")
async def show_dashboard():
    results = await asyncio.gather(fetch("users"), fetch("orders"), fetch("stock"))
    return {"results": list(results)}
