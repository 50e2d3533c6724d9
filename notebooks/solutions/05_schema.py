from pydantic import BaseModel, Field
from quart import Quart
from quart_schema import QuartSchema, validate_request

signup = Quart("signup")
QuartSchema(signup)


class Signup(BaseModel):
    name: str = Field(min_length=1)
    age: int = Field(ge=13)


@signup.post("/signup")
@validate_request(Signup)
async def create(data: Signup):
    return {"welcome": data.name, "age": data.age}, 201
