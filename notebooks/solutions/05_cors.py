from quart import Quart
from quart_cors import cors

shop = Quart("shop")


@shop.get("/prices")
async def prices():
    return {"teapot": 18.5}


shop = cors(shop, allow_origin="https://shop.example")
