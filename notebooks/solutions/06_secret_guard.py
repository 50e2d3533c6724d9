from quart import Quart

vault = Quart("vault")
vault.config.from_prefixed_env()  # QUART_SECRET_KEY, QUART_DEBUG, ...


@vault.before_serving
async def require_secret_key():
    if not vault.debug and not vault.config.get("SECRET_KEY"):
        raise RuntimeError("refusing to start in production mode without a SECRET_KEY")


@vault.get("/")
async def index():
    return {"vault": "open"}
