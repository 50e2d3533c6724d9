from quart import Quart


class Defaults:
    PAGE_SIZE = 20
    GREETING = "Hello"


def make_app():
    app = Quart("shop")
    app.config.from_object(Defaults)
    app.config.from_prefixed_env(prefix="SHOP")  # SHOP_PAGE_SIZE=50 in the environment wins
    return app
