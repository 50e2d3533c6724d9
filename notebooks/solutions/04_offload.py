import time

from quart import Quart
from quart.utils import run_sync


def legacy_report():
    """A blocking library call you cannot change: 0.2 s."""
    time.sleep(0.2)
    return "report"


reports = Quart("reports")


@reports.get("/report")
async def report():
    return {"report": await run_sync(legacy_report)()}


@reports.get("/ping")
async def ping():
    return {"pong": True}
