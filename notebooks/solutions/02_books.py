from quart import Quart, abort, request

library = Quart("library")
books = {"9780262510875": {"title": "Structure and Interpretation of Computer Programs"}}


@library.get("/books/<isbn>")
async def book(isbn):
    if isbn not in books:
        abort(404)
    return books[isbn]


@library.post("/books")
async def add_book():
    data = await request.get_json()  # None for a body that is not JSON
    if not isinstance(data, dict) or not data.get("isbn") or not data.get("title"):
        abort(422)
    books[data["isbn"]] = {"title": data["title"]}
    return books[data["isbn"]], 201


@library.errorhandler(404)
async def not_found(error):
    return {"error": "not found"}, 404
