"""Exercises of chapter 12, response streaming."""

from course.exercises import Exercise, expect


class SuffixRange(Exercise):
    """Write suffix_range(n, size): the (start, end) of `bytes=-n` in a file of `size` bytes."""

    id = "12_suffix_range"
    hints = [
        "`bytes=-n` means the LAST n bytes; `end` is included, so it is `size - 1`.",
        "A suffix longer than the file means the whole file: `start = max(0, size - n)`.",
    ]
    wrong = [("max(0, size - n)", "size - n"), ("size - 1", "size")]

    def _check(self, suffix_range):
        for n, size, expected in [(100, 1000, (900, 999)), (1, 1000, (999, 999)),
                                  (1000, 1000, (0, 999)), (5000, 1000, (0, 999))]:
            got = suffix_range(n, size)
            expect(tuple(got) == expected,
                   f"suffix_range({n}, {size}) returned {got!r}; expected {expected} (end included).")


class ContentRange(Exercise):
    """Complete /data's 206 answer: the Content-Range header."""

    id = "12_content_range"
    hints = [
        "The format is `bytes <start>-<end>/<total size>`, with `end` included.",
        'f"bytes {start}-{end}/{len(DATA)}"',
    ]
    wrong = [('f"bytes {start}-{end}/{len(DATA)}"', 'f"bytes {start}-{end + 1}/{len(DATA)}"'),
             ('f"bytes {start}-{end}/{len(DATA)}"', 'f"bytes {start}-{end}"')]

    async def _check(self, clip):
        client = clip.test_client()
        data = bytes(range(256)) * 4
        for header, start, end in [("bytes=0-9", 0, 9), ("bytes=1000-", 1000, 1023), ("bytes=-24", 1000, 1023)]:
            response = await client.get("/data", headers={"Range": header})
            expect(response.status_code == 206, f"Range: {header} answered {response.status_code}, not 206.")
            got = response.headers.get("Content-Range")
            want = f"bytes {start}-{end}/1024"
            expect(got == want, f"Range: {header} answered Content-Range {got!r}; expected {want!r}.")
            expect(await response.get_data() == data[start:end + 1], f"Range: {header} sent the wrong bytes.")


q1 = SuffixRange()
q2 = ContentRange()
