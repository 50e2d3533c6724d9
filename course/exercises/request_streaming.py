"""Exercises of chapter 11, request streaming.

The upload check drives the learner's app with Quart's test client, chunk by chunk, and
looks at order (did the 413 come before the body ended? was a file visible under its real
name while the body arrived?) and at the folder's contents, never at elapsed time.
"""

import asyncio
from pathlib import Path

from course.exercises import Exercise, NotAttempted, checklist, expect, quiet


class SafeName(Exercise):
    """Write is_safe(name): True only for plain file names."""

    id = "11_safe_name"
    hints = [
        "Describe what you allow, not what you forbid: a whitelist regex is easier to get right.",
        "`re.fullmatch(r\"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\", name)` must match the WHOLE name; "
        "`re.match` only checks how it starts.",
    ]
    wrong = [("re.fullmatch", "re.match"), ("[A-Za-z0-9][A-Za-z0-9._-]{0,99}", "[A-Za-z0-9._-]{1,100}")]

    good = ["report.pdf", "IMG_0001.JPG", "v1.2-final.tar.gz", "a"]
    bad = ["../etc/passwd", "..", ".", ".bashrc", "a/b.txt", "a/../../b", "x\\y", "space name.txt",
           "", "a" * 101, "nul\x00.txt", "é.txt"]

    def _check(self, is_safe):
        for name in self.good:
            expect(is_safe(name) is True, f"is_safe({name!r}) should be True: it is a plain name.")
        for name in self.bad:
            expect(not is_safe(name), f"is_safe({name!r}) should be False.")


class StreamedUpload(Exercise):
    """Build PUT /inbox/<name>: a streamed upload with its own limit that never leaves half a file."""

    id = "11_upload"
    hints = [
        "Follow `save_body()` of Step 5 and the limits of Step 6: check the name with `is_safe_name` "
        "(400), refuse a `request.content_length` over `LIMIT` (413), then open a hidden temporary "
        "file in `FOLDER` with `aiofiles.open`, and `async for chunk in request.body:` count and write. "
        "Past `LIMIT` bytes, `abort(413)` at once.",
        "Wrap the writing in `try:` ... `except BaseException: partial.unlink(missing_ok=True); raise`: "
        "`BaseException`, because a client that leaves cancels the view with `CancelledError`, which "
        "is not an `Exception`. On success `os.replace(partial, FOLDER / name)` and "
        "`return {\"name\": name, \"size\": size}, 201`.",
    ]
    wrong = [
        ("except BaseException:", "except Exception:"),
        ("if size > LIMIT:", "if size > 10 * LIMIT:"),
        ("request.content_length is not None and request.content_length > LIMIT", "False"),
        ('partial = FOLDER / f".{name}.{uuid.uuid4().hex}.part"', "partial = FOLDER / name"),
        ("async for chunk in request.body:", "for chunk in [await request.get_data()]:"),
        ("if not is_safe_name(name):", "if False:"),
    ]
    LIMIT = 1000  # the starter cell's LIMIT
    # How long the check waits for what a right answer does at once (a file appearing, an early
    # 413) before it calls the behaviour missing. A guard against hanging, not a timing.
    GUARD = 3

    async def _check(self, inbox, FOLDER):
        if not any(rule.rule.startswith("/inbox/") and "PUT" in rule.methods for rule in inbox.url_map.iter_rules()):
            raise NotAttempted("Write the view PUT /inbox/<name> in the exercise cell, run it, then check again.")
        folder = Path(FOLDER)
        there_before = set(folder.iterdir())
        client = inbox.test_client()

        def new_entries() -> list[str]:
            return sorted(p.name for p in set(folder.iterdir()) - there_before)

        async def eventually(condition) -> bool:
            for _ in range(int(self.GUARD / 0.01)):
                if condition():
                    return True
                await asyncio.sleep(0.01)
            return bool(condition())

        with quiet(inbox), checklist() as expect:
            # 1. A body in three chunks, without Content-Length (as a chunked upload sends it).
            parts = [b"a" * 300, b"b" * 300, b"c" * 300]
            seen_meanwhile: list[str] = []
            async with client.request("/inbox/notes.txt", method="PUT") as connection:
                await connection.send(parts[0])
                if await eventually(new_entries):  # the view has opened its file
                    seen_meanwhile = new_entries()
                for part in parts[1:]:
                    await connection.send(part)
                await connection.send_complete()
            response = await connection.as_response()
            body = await response.get_json(silent=True)
            expect(response.status_code == 201 and body == {"name": "notes.txt", "size": 900},
                   f"900 bytes sent in 3 chunks answered {response.status_code} {body!r}, not "
                   '201 {"name": "notes.txt", "size": 900}.')
            stored = folder / "notes.txt"
            expect(stored.is_file() and stored.read_bytes() == b"".join(parts),
                   "FOLDER / 'notes.txt' does not hold exactly the 900 bytes sent.")
            expect("notes.txt" not in seen_meanwhile,
                   "while the body was still arriving, FOLDER already held a file called notes.txt: "
                   "write to a hidden temporary name, and rename it once the body is complete.")
            expect(new_entries() in ([], ["notes.txt"]),
                   f"after the upload FOLDER holds {new_entries()}: only notes.txt should be left.")
            stored.unlink(missing_ok=True)
            there_before = set(folder.iterdir())

            # 2. Too much, without Content-Length: 413 as soon as the limit is passed.
            async with client.request("/inbox/big.bin", method="PUT") as connection:
                for _ in range(3):
                    await connection.send(b"x" * 400)
                early = await eventually(lambda: connection.status_code is not None)
                if not early:  # let a view that waits for the whole body finish
                    await connection.send_complete()
            status = (await connection.as_response()).status_code
            expect(status == 413, f"1,200 bytes sent without a Content-Length answered {status}, not 413.")
            expect(status != 413 or early,
                   "the 413 came only once the whole body had arrived: count the chunks as they come "
                   "(`async for chunk in request.body`) instead of reading the whole body first.")
            expect(not new_entries(), f"the refused upload left {new_entries()} in FOLDER.")
            there_before = set(folder.iterdir())

            # 3. A declared Content-Length over the limit: refused before reading.
            async with client.request("/inbox/declared.bin", method="PUT",
                                      headers={"Content-Length": "5000"}) as connection:
                await connection.send(b"d" * 10)
                await connection.send_complete()
            status = (await connection.as_response()).status_code
            expect(status == 413, f"a request that declares Content-Length: 5000 answered {status}, not 413 "
                                  "before reading a byte.")
            for leftover in new_entries():
                (folder / leftover).unlink(missing_ok=True)
            there_before = set(folder.iterdir())

            # 4. Names the course does not put on disk.
            for name in (".hidden", "CON.txt", "sp ace.txt"):
                status = (await client.put(f"/inbox/{name}", data=b"x")).status_code
                expect(status == 400, f"PUT /inbox/{name} answered {status}, not 400.")
            expect(not new_entries(), f"refused names left {new_entries()} in FOLDER.")
            there_before = set(folder.iterdir())

            # 5. A client that leaves half way.
            async with client.request("/inbox/cut.bin", method="PUT") as connection:
                await connection.send(b"c" * 300)
                await eventually(new_entries)  # the view has opened its file
                await connection.disconnect()
            # Leaving the block waited for the app: its clean-up, if any, has run.
            expect(not new_entries(), f"a client that left half way left {new_entries()} in FOLDER: "
                                      "delete the partial file on any way out, cancellation included.")


q1 = SafeName()
q2 = StreamedUpload()
