from quart import Quart, make_response

poet = Quart("poet")
STANZAS = ["Roses are red,\nviolets are blue,", "Quart streams events\nand so can you."]

def frame(text):
    """One event whose data is `text`, which may span several lines."""
    return "".join(f"data: {line}\n" for line in text.split("\n")) + "\n"

@poet.get("/poem")
async def poem():
    async def stream():
        for stanza in STANZAS:
            yield frame(stanza)

    response = await make_response(stream(), {"Content-Type": "text/event-stream"})
    response.timeout = None
    return response
