import asyncio

from argon2 import PasswordHasher
from quart import Quart

hasher = PasswordHasher()  # Argon2id with argon2-cffi's defaults: 64 MiB and a noticeable fraction of a second
signup = Quart("signup")


@signup.get("/hash")
async def make_hash():
    hashed = await asyncio.to_thread(hasher.hash, "correct horse battery staple")
    return {"hash": hashed}
