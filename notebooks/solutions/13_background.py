import asyncio

from quart import Quart, request

signup = Quart("signup")
outbox = []

async def send_welcome(email):
    await asyncio.sleep(0.3)  # pretend to talk to a slow mail server
    outbox.append(email)

@signup.post("/signup")
async def register():
    email = (await request.get_json())["email"]
    signup.add_background_task(send_welcome, email)
    return {"status": "welcome mail queued"}, 202
