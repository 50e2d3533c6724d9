from pydantic import BaseModel, Field
from quart import Quart
from quart_cors import cors
from quart_schema import QuartSchema, validate_request

shop = Quart("shop")
QuartSchema(shop)


class Order(BaseModel):
    item: str = Field(min_length=1)
    quantity: int = Field(ge=1, le=10)


@shop.get("/prices")
async def prices():
    return {"teapot": 18.5}


@shop.post("/orders")
@validate_request(Order)
async def place_order(data: Order):
    return {"ordered": data.item, "quantity": data.quantity}, 201


shop = cors(shop, allow_origin="https://shop.example")
