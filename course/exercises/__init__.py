"""The chapters' exercises, and the API to write one.

A learner imports a chapter's exercises (``from course.exercises.websockets import q1``);
an exercise author imports the building blocks from here::

    from course.exercises import Exercise, Incorrect, checklist, expect, quiet

- ``Exercise``: the base class (``id``, ``hints``, ``wrong``, ``async def _check(...)``);
- ``NotAttempted`` and ``Incorrect``: the outcomes a check raises;
- ``expect(condition, message)``: fail with a message; ``checklist()``: report every
  failing behaviour at once;
- ``has_blank(answer)``: True while the answer still holds ``____`` (in code, a class, a string);
- ``quiet(app)``: keep a crashing answer's traceback out of the notebook;
- ``run_async(coroutine)``: run a coroutine from any cell;
- ``peak_concurrency(app, path)``: how many requests overlapped: order, never wall time.
"""

from .._exercise import (Exercise, Feedback, Incorrect, NotAttempted, ____, checklist, expect, has_blank,
                         peak_concurrency, quiet, run_async)

__all__ = ["Exercise", "Feedback", "Incorrect", "NotAttempted", "____", "checklist", "expect", "has_blank",
           "peak_concurrency", "quiet", "run_async"]
