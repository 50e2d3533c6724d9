from quart import Quart

greeter = Quart("greeter")

@greeter.get("/hello/<name>")
async def hello(name):
    return {"hello": name}
