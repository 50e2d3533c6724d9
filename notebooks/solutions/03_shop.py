from quart import Blueprint, Quart

shop = Blueprint("shop", __name__, url_prefix="/shop")


@shop.get("/items")
async def items():
    return ["teapot", "cup"]


def create_shop_app():
    app = Quart("shop_app")
    app.register_blueprint(shop)
    return app
