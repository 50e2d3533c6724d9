import asyncio
import contextlib

from apps.video import MEDIA, SAMPLE
from apps.videoshare.client import Visitor


async def test_every_message_once_in_one_order(site):
    """Chats on every worker hear every message exactly once, all in the same order."""
    ada, bob = Visitor(site.url, "ada").sign_up(), Visitor(site.url, "bob").sign_up()
    video = ada.wait_until_ready(ada.upload(MEDIA / SAMPLE)["id"])
    async with contextlib.AsyncExitStack() as stack:  # closes every chat at the end
        chats = [await stack.enter_async_context((ada, bob)[n % 2].chat(video["id"])) for n in range(8)]
        workers = [(await chat.until("welcome"))["worker"] for chat in chats]
        senders = list({worker: chat for worker, chat in zip(workers, chats)}.values())  # one on each worker
        assert len(senders) >= 2, f"every chat reached worker {workers[0]}: nothing had to cross"

        async def send(n, sender):
            for i in range(5):
                await sender.send_json({"text": f"{n}-{i}"})

        await asyncio.gather(*(send(n, sender) for n, sender in enumerate(senders)))  # all at once
        sent = [f"{n}-{i}" for n in range(len(senders)) for i in range(5)]
        heard = [[m["text"] for m in await chat.messages(len(sent), timeout=5)] for chat in chats]
        for got in heard:
            assert sorted(got) == sorted(sent), f"a chat heard {got}"  # each message, once
            assert got == heard[0], "two chats heard different orders"  # one order for everyone
        for n in range(len(senders)):  # and each sender's messages in the order they were sent
            assert [t for t in heard[0] if t.startswith(f"{n}-")] == [f"{n}-{i}" for i in range(5)]
