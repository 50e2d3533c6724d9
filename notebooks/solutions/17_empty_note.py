async def test_empty_note_is_refused(client):
    response = await client.post("/notes", json={"text": ""})
    assert response.status_code == 422
    assert "error" in await response.get_json()
