# The contract of the notes API (chapter 01):
#   POST /notes {"text": "milk"} -> 201, JSON {"id": <int>, "text": "milk"}
#   GET  /notes/<that id>        -> 200, the same note
#   POST /notes {"text": ""}     -> 422, JSON {"error": "..."}
#   GET  /notes/999999           -> 404
async def test_notes_api(client):
    created = await client.post("/notes", json={"text": "milk"})
    assert created.status_code == 201
    note = await created.get_json()
    assert note["text"] == "milk"

    fetched = await client.get(f"/notes/{note['id']}")
    assert await fetched.get_json() == note

    empty = await client.post("/notes", json={"text": ""})
    assert empty.status_code == 422
    assert "error" in await empty.get_json()

    missing = await client.get("/notes/999999")
    assert missing.status_code == 404
