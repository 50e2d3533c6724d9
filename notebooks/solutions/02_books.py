from quart import Quart, abort

library = Quart("library")
books = {"9780262510875": {"title": "Structure and Interpretation of Computer Programs"}}


@library.get("/books/<isbn>")
async def book(isbn):
    if isbn not in books:
        abort(404)
    return books[isbn]


@library.errorhandler(404)
async def not_found(error):
    return {"error": "no such book"}, 404
