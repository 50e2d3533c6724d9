from quart import Quart

pages = Quart("pages")


@pages.get("/")
async def home():
    chat_page = "static/chat.html"
    return f'<a id="chat" href="{chat_page}">Open the chat</a>'


@pages.get("/rooms/<room>")
async def room(room):
    home_page = "../"
    return f'<h1>Room {room}</h1><a id="home" href="{home_page}">Back home</a>'
