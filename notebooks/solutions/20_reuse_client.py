import httpx
from quart import Quart

proxy = Quart("proxy")
proxy.config["UPSTREAM_URL"] = "http://127.0.0.1:9/"  # the check points this at a real server

@proxy.before_serving
async def open_client():
    # One client for the app's whole life (chapter 13): its pool keeps connections open between requests.
    proxy.extensions["http"] = httpx.AsyncClient()

@proxy.after_serving
async def close_client():
    await proxy.extensions["http"].aclose()

@proxy.get("/upstream")
async def upstream():
    """Ask the upstream server and pass its JSON on."""
    response = await proxy.extensions["http"].get(proxy.config["UPSTREAM_URL"])
    return response.json()
