import asyncio

from quart import Quart, request

from apps.errors import json_errors

signup = Quart("signup")
json_errors(signup)  # errors as JSON, as in every app of the course (chapter 01)
outbox = []


async def send_welcome(email):
    """Talk to a slow mail server, then file the mail as sent."""
    await asyncio.sleep(0.3)
    outbox.append(email)


@signup.post("/signup")
async def register():
    """Queue the welcome mail and answer at once."""
    data = await request.get_json(silent=True)
    email = data.get("email") if isinstance(data, dict) else None
    if not isinstance(email, str) or "@" not in email:
        return {"error": 'send JSON {"email": "..."} with an email address'}, 422
    # A task that runs alongside this view; Quart waits for it when the server stops.
    # It gets the email as an argument: `request` is not available inside it.
    signup.add_background_task(send_welcome, email)
    return {"status": "welcome mail queued"}, 202
