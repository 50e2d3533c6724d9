from quart import current_app

from apps.chat import create_app

talk = create_app()


@talk.get("/rooms")
async def rooms():
    """How many members each room has now: {"tea": 2, "lobby": 1}."""
    broker = current_app.extensions["broker"]
    return {room: len(inboxes) for room, inboxes in broker.rooms.items()}
