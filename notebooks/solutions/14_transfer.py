from course.exercises.databases import Wallet


async def transfer(session, source_id, target_id, amount):
    """Move `amount` from one wallet to another: both changes are saved, or neither."""
    async with session.begin():
        target = await session.get(Wallet, target_id)
        target.balance += amount
        source = await session.get(Wallet, source_id)
        source.balance -= amount  # the database refuses a balance below zero (a CHECK constraint)
