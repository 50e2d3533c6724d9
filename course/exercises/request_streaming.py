"""Exercises of chapter 11, request streaming."""

from course.exercises import Exercise, expect


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


class CountedLimit(Exercise):
    """Make PUT /count stream the body, answer {"size": n}, and 413 beyond 1000 bytes."""

    id = "11_counted_limit"
    hints = [
        "A chunked body has no Content-Length, so Quart's MAX_CONTENT_LENGTH check never fires: "
        "count the bytes yourself as they arrive.",
        "Inside the `async for` loop: `size += len(chunk)`, then `if size > LIMIT: abort(413)`.",
    ]
    wrong = [("if size > LIMIT:", "if size > 10 * LIMIT:"), ("abort(413)", "abort(400)")]

    async def _check(self, limited):
        async def put(parts):
            # No Content-Length, like a chunked upload: the only way to notice is to count.
            async with limited.test_client().request("/count", method="PUT") as connection:
                for part in parts:
                    await connection.send(part)
                await connection.send_complete()
            return await connection.as_response()

        response = await put([b"x" * 300] * 3)
        expect(response.status_code == 200, f"900 bytes answered {response.status_code}, not 200.")
        body = await response.get_json()
        expect(body == {"size": 900}, f'900 bytes answered {body!r}, not {{"size": 900}}.')
        response = await put([b"x" * 300] * 4)
        expect(response.status_code == 413,
               f"1200 bytes (sent in 4 chunks, no Content-Length) answered {response.status_code}, not 413.")


q1 = SafeName()
q2 = CountedLimit()
