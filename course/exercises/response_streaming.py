"""Exercises of chapter 12, response streaming.

The Range check sends one request per form of the header and compares status, headers and
bytes with what RFC 9110 asks for; nothing here looks at time.
"""

from course.exercises import Exercise, NotAttempted, checklist, expect, quiet


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


class RangeHandler(Exercise):
    """Build GET /data: all 1,024 bytes, or the one byte range a Range header asks for."""

    id = "12_range_handler"
    hints = [
        "Match the header with a regular expression such as `re.fullmatch(r\"bytes=(\\d*)-(\\d*)\", header)`: "
        "`fullmatch`, so `bytes=0-1,5-6` and `bytes=oops` do not match and you send all of DATA (200). "
        "Then three cases: `a-b` (end included, at most `size - 1`), `a-` (to the end), `-n` (the last n, "
        "`max(0, size - n)`). A start at or past 1,024 is a 416 with `Content-Range: bytes */1024`.",
        "`Response(DATA[start:end + 1], 206, {\"Content-Range\": f\"bytes {start}-{end}/{len(DATA)}\"})`; "
        "the 200 carries `{\"Accept-Ranges\": \"bytes\"}`. `int()` refuses more than 4,300 digits with "
        "`ValueError` (a 500): allow at most 18 digits in the pattern, `\\d{0,18}`.",
    ]
    wrong = [
        ("max(0, size - int(last))", "size - int(last)"),
        ("min(int(last), size - 1)", "int(last)"),
        ('{"Accept-Ranges": "bytes"}', "{}"),
        ('{"Content-Range": f"bytes */{size}"}', "{}"),
        ("RANGE.fullmatch", "RANGE.match"),
        (r"\d{0,18}", r"\d*"),
    ]
    DATA = bytes(range(256)) * 4
    # (Range header, expected status, (start, end) of a 206)
    CASES = [
        (None, 200, None),
        ("bytes=0-9", 206, (0, 9)),
        ("bytes=1000-", 206, (1000, 1023)),
        ("bytes=1000-5000", 206, (1000, 1023)),
        ("bytes=-24", 206, (1000, 1023)),
        ("bytes=-5000", 206, (0, 1023)),
        ("bytes=2000-", 416, None),
        ("bytes=0-1,5-6", 200, None),
        ("pages=1-2", 200, None),
        ("bytes=9-5", 200, None),
        ("bytes=oops", 200, None),
    ]

    async def _check(self, clip):
        if not any(rule.rule == "/data" for rule in clip.url_map.iter_rules()):
            raise NotAttempted("Write the view GET /data in the exercise cell, run it, then check again.")
        client = clip.test_client()
        size = len(self.DATA)
        with quiet(clip), checklist() as expect:
            for header, status, part in self.CASES:
                response = await client.get("/data", headers={"Range": header} if header else {})
                got, body = response.status_code, await response.get_data()
                asked = f"Range: {header}" if header else "no Range header"
                if got != status:
                    expect(False, f"{asked} answered {got}, not {status}.")
                elif status == 200:
                    expect(body == self.DATA, f"{asked} answered 200 without all {size} bytes of DATA.")
                    expect(response.headers.get("Accept-Ranges") == "bytes",
                           f"{asked}: the 200 has no `Accept-Ranges: bytes`, so a player never asks for a range.")
                elif status == 206:
                    start, end = part
                    want = f"bytes {start}-{end}/{size}"
                    expect(response.headers.get("Content-Range") == want,
                           f"{asked} answered Content-Range {response.headers.get('Content-Range')!r}, not {want!r}.")
                    expect(body == self.DATA[start:end + 1], f"{asked} sent the wrong bytes (want {start}..{end}).")
                else:
                    want = f"bytes */{size}"
                    expect(response.headers.get("Content-Range") == want,
                           f"{asked}: the 416 has Content-Range {response.headers.get('Content-Range')!r}, "
                           f"not {want!r} (it tells the client the real size).")
            huge = "bytes=" + "9" * 5000 + "-"
            got = (await client.get("/data", headers={"Range": huge})).status_code
            expect(got in (200, 416), f"a Range with a 5,000-digit number answered {got}: a hostile header "
                                      "must not crash the view.")


q1 = SuffixRange()
q2 = RangeHandler()
