"""Exercises of chapter 24, the capstone's testing and shipping.

The check deploys the site twice on this machine, as ``deploy()`` does in the notebook: two
machines of one worker each behind nginx (so nginx's turns put consecutive clients on
different workers), once with Redis and once without. Your test must pass against the first
and fail against the second, where a message reaches only the clients of its own worker.
A test fails the way pytest sees it: it raises (an ``assert``, or a ``TimeoutError`` while
waiting for messages that never come).
"""

from __future__ import annotations

import asyncio
import inspect

from course.exercises import Exercise, Incorrect, NotAttempted

# As the deployment tests: quick password hashes; a processor only takes the uploads of its
# own process, so nothing waits for a poll.
CONFIG = {"PASSWORD_HASH_PROFILE": "CHEAPEST", "PROCESSING_POLL": 600}


async def _outcome(test, site) -> tuple[str, str]:
    """("passed" | "failed" | "crashed", what happened in words) of ``test(site)``."""
    try:
        async with asyncio.timeout(60):
            await test(site)
    except AssertionError as error:
        return "failed", f"AssertionError: {error}"[:300]
    except TimeoutError:
        return "failed", "TimeoutError (it waited for messages that never came)"
    except Exception as error:
        return "crashed", f"{type(error).__name__}: {error}"[:300]
    return "passed", "passed"


async def _against(test, **options) -> tuple[str, str]:
    """Deploy (2 machines x 1 worker, nginx), run the test against it, stop it."""
    from apps.videoshare.deploy import deploy
    from course.services import missing

    if missing("redis-server", "nginx"):
        raise Incorrect(f"this check needs {missing('redis-server', 'nginx')} installed, as the notebook does.")
    name = "24-check-" + ("redis" if options.get("redis", True) else "alone")
    site = await asyncio.to_thread(deploy, 2, 1, config=CONFIG, name=name, **options)
    try:
        return await _outcome(test, site)
    finally:
        await asyncio.to_thread(site.stop, 2)


class ExactlyOnce(Exercise):
    """Build a test of a deployment: chats on every worker hear every message once, in one order."""

    id = "24_exactly_once"
    hints = [
        "Sign up two `Visitor`s at `site.url`, upload `MEDIA / SAMPLE` and wait until it is ready. Open about "
        "eight chats through nginx (`contextlib.AsyncExitStack` keeps them open; `enter_async_context"
        "(visitor.chat(video_id))`): nginx gives each new connection to the next machine. Each chat's "
        "`welcome` names its worker: keep one sender per worker, and `assert` there are at least two.",
        "Let every sender send a few numbered lines at once (`asyncio.gather`), then read "
        "`await chat.messages(len(sent), timeout=5)` on every chat. Assert that each heard every line once "
        "(`sorted(got) == sorted(sent)`), that all heard the same order (`got == heard[0]`), and that each "
        "sender's lines kept their order. Without Redis, the chats on the other machine wait in vain: the "
        "`TimeoutError` fails the test, as it should.",
    ]
    wrong = [
        # everyone on one machine: against the good site the test itself says nothing crossed
        ('Visitor(site.url, "ada").sign_up(), Visitor(site.url, "bob").sign_up()',
         'Visitor(site.machines[0].url, "ada").sign_up(), Visitor(site.machines[0].url, "bob").sign_up()'),
        # one sender, and only the chats of its own worker listening: passes without Redis too
        ("        senders = list({worker: chat for worker, chat in zip(workers, chats)}.values())  # one on each worker\n"
         "        assert len(senders) >= 2, f\"every chat reached worker {workers[0]}: nothing had to cross\"\n",
         "        senders = [chats[0]]\n"
         "        chats = [chat for chat, worker in zip(chats, workers) if worker == workers[0]]\n"),
        # reading half the messages: every chat "misses" some, even on a good site
        ("await chat.messages(len(sent), timeout=5)", "await chat.messages(len(sent) // 2, timeout=5)"),
    ]

    async def _check(self, test_every_message_once_in_one_order):
        test = test_every_message_once_in_one_order
        if not callable(test):
            raise NotAttempted("Define `async def test_every_message_once_in_one_order(site):`, run the cell, "
                               "then check again.")
        if not inspect.iscoroutinefunction(test) or list(inspect.signature(test).parameters) != ["site"]:
            raise Incorrect("write the test as `async def test_every_message_once_in_one_order(site):` (it awaits "
                            "the chats, and takes the deployment as its only argument).")
        # Both deployments at once (migrate() takes its turn): about ten seconds rather than twenty.
        (outcome, what), (alone, alone_what) = await asyncio.gather(_against(test), _against(test, redis=False))
        if outcome != "passed":
            raise Incorrect(f"against a good deployment (Redis, two machines, nginx) your test {outcome}: {what}. "
                            "A test must pass where the code is right.")
        outcome, what = alone, alone_what
        if outcome == "passed":
            raise Incorrect("your test passed against a deployment WITHOUT Redis, where a message reaches only the "
                            "clients of its own worker: it does not prove that messages cross workers. Put the "
                            "senders and the readers on different workers.")
        if outcome == "crashed":
            raise Incorrect(f"against the deployment without Redis your test crashed ({what}) instead of failing "
                            "with an assert or a timeout: read the messages, then assert what you expect.")


q1 = ExactlyOnce()
