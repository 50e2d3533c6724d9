import aiosqlite
from quart import Quart

counter = Quart("counter")


@counter.before_serving
async def open_db():
    counter.extensions["db"] = await aiosqlite.connect(":memory:")
    await counter.extensions["db"].execute("CREATE TABLE hits (at TEXT)")


@counter.after_serving
async def close_db():
    await counter.extensions["db"].close()


@counter.post("/hit")
async def hit():
    db = counter.extensions["db"]
    await db.execute("INSERT INTO hits VALUES (datetime('now'))")
    await db.commit()
    async with db.execute("SELECT COUNT(*) FROM hits") as cursor:
        (count,) = await cursor.fetchone()
    return {"hits": count}
