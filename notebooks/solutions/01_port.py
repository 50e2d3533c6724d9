from quart import Quart, request

greeter = Quart("greeter")


@greeter.post("/greet")
async def greet():
    if request.is_json:
        name = (await request.get_json())["name"]
    else:
        name = (await request.form)["name"]
    return {"greeting": f"Hello, {name}!"}
