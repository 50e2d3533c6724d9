import httpx
from quart import Quart

proxy = Quart("proxy")
proxy.config["UPSTREAM_URL"] = "http://127.0.0.1:9/"  # the check points this at a real server

@proxy.before_serving
async def open_client():
    # One client for the app's whole life: its pool keeps connections open between requests.
    proxy.http_client = httpx.AsyncClient()

@proxy.after_serving
async def close_client():
    await proxy.http_client.aclose()

@proxy.get("/upstream")
async def upstream():
    """Ask the upstream server and pass its JSON on."""
    response = await proxy.http_client.get(proxy.config["UPSTREAM_URL"])
    return response.json()
