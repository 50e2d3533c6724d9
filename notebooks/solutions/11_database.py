import aiosqlite
from quart import Quart

counter = Quart("counter")

@counter.before_serving
async def open_db():
    counter.db = await aiosqlite.connect(":memory:")
    await counter.db.execute("CREATE TABLE hits (at TEXT)")

@counter.after_serving
async def close_db():
    await counter.db.close()

@counter.post("/hit")
async def hit():
    await counter.db.execute("INSERT INTO hits VALUES (datetime('now'))")
    await counter.db.commit()
    async with counter.db.execute("SELECT COUNT(*) FROM hits") as cursor:
        (count,) = await cursor.fetchone()
    return {"hits": count}
