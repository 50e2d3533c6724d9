from quart import Blueprint, Quart

api = Blueprint("api", __name__, url_prefix="/api")
v2 = Blueprint("v2", __name__, url_prefix="/v2")


@v2.get("/books")
async def list_books():
    return ["Dune", "Emma"]


@api.after_request
async def tag_api(response):
    response.headers["X-API"] = "library"
    return response


api.register_blueprint(v2)  # once, here: a blueprint cannot change after an app registered it


def create_library_app():
    app = Quart("library_app")
    app.register_blueprint(api)
    return app
