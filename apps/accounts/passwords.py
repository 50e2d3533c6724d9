"""Password hashes with Argon2id, computed off the event loop.

A memory-hard hash is slow on purpose: about 0.1-0.3 s of CPU and 64 MiB of memory each
with argon2-cffi's default parameters (RFC 9106, "low memory"), so that a stolen table of
hashes takes years to crack. Run on the event loop, those 0.1-0.3 s would stop every other
request, websocket and stream of the process; so the work goes to worker threads
(argon2-cffi releases the GIL while it hashes). Two workers for the whole process keep the
CPU and memory it can take bounded: a flood of logins queues up here, it does not pile up
64 MiB per request.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Parameters, profiles
from argon2.exceptions import InvalidHashError, VerificationError

_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="password-hash")


class Passwords:
    """``await passwords.hash(pw)``, ``await passwords.verify(stored, pw)``, off the event loop.

    Example::

        passwords = Passwords()                       # or Passwords(profiles.CHEAPEST) in tests
        stored = await passwords.hash("correct horse battery staple")
        assert await passwords.verify(stored, "correct horse battery staple")
        assert not await passwords.verify(None, "anything")   # no such user: as slow, still False
    """

    def __init__(self, parameters: Parameters = profiles.RFC_9106_LOW_MEMORY) -> None:
        self.hasher = PasswordHasher.from_parameters(parameters)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await self._off_the_loop(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored``; ``stored=None`` (an unknown user) costs the same.

        Answering "no such user" at once and "wrong password" after 0.2 s would tell an
        attacker which usernames exist; so an unknown user is checked against a dummy hash.
        """
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_hex())
            stored = self._dummy
        try:
            return await self._off_the_loop(self.hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """True if ``stored`` was made with other parameters: hash the password again at login."""
        return self.hasher.check_needs_rehash(stored)

    @staticmethod
    async def _off_the_loop(function, *args):
        return await asyncio.get_running_loop().run_in_executor(_WORKERS, function, *args)
