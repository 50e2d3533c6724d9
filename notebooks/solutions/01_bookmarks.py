from quart import Quart, abort, render_template_string, request

bookmarks_app = Quart("bookmarks")
bookmarks = {}
PAGE = '<a href="{{ url }}">{{ url }}</a>'


@bookmarks_app.post("/bookmarks")
async def add_bookmark():
    data = await request.get_json(silent=True)
    if not isinstance(data, dict) or not data.get("url"):
        abort(422)
    mark = {"id": len(bookmarks) + 1, "url": data["url"]}
    bookmarks[mark["id"]] = mark
    return mark, 201


@bookmarks_app.get("/bookmarks/<int:mark_id>")
async def show_bookmark(mark_id):
    if mark_id not in bookmarks:
        abort(404)
    return await render_template_string(PAGE, url=bookmarks[mark_id]["url"])
