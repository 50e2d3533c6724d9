from quart import Blueprint, Quart, current_app

stock = Blueprint("stock", __name__)


@stock.before_app_serving
async def open_stock():
    current_app.extensions["stock"] = {"teapot": 3, "cup": 12}


@stock.get("/stock/<item>")
async def count(item):
    return {"item": item, "count": current_app.extensions["stock"].get(item, 0)}


warehouse = Quart("warehouse")
warehouse.register_blueprint(stock)
