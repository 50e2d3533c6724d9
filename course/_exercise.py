"""Exercises with three verbs: ``q1.check(answer)``, ``q1.hint()``, ``q1.solution()``.

A chapter's exercises live in ``course/exercises/<chapter>.py``; each is a small
subclass of ``Exercise``::

    class Greeting(Exercise):
        'Add GET /hello/<name> answering {"hello": name}.'

        id = "00_greeting"                  # starter cell tag and solution file name
        hints = ["A view may return a dict: Quart makes it JSON.", 'Return `{"hello": name}`.']
        wrong = [('{"hello": name}', '{"hi": name}')]  # edits of the solution the check must reject

        async def _check(self, greeter):     # parameter names = the notebook's variable names
            response = await greeter.test_client().get("/hello/Ada")
            expect(response.status_code == 200, f"GET /hello/Ada answered {response.status_code}.")

    q1 = Greeting()

The notebook's starter cell carries the tag ``starter:00_greeting`` and leaves
``____`` where the learner writes; ``notebooks/solutions/00_greeting.py`` is the
whole cell solved (``%load solutions/00_greeting.py`` pulls it in). The test
suite proves every check fails on its starter and passes on its solution.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import logging
import types
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"


class _Blank:
    """The ``____`` a starter cell leaves for the learner to fill in."""

    def __repr__(self) -> str:
        return "____"


____ = _Blank()


class NotAttempted(Exception):
    """The answer still contains ``____``."""


class Incorrect(Exception):
    """The answer runs but does the wrong thing; the message says what."""


def expect(condition: Any, message: str) -> None:
    """Fail the check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Incorrect(message)


class Feedback:
    """What ``check()`` returns: green, red or grey text in the notebook."""

    icons = {"correct": "✅", "incorrect": "❌", "not attempted": "✏️"}

    def __init__(self, outcome: str, message: str) -> None:
        self.outcome, self.message = outcome, message

    def _repr_markdown_(self) -> str:
        return f"{self.icons[self.outcome]} **{self.outcome.capitalize()}.** {self.message}"

    def __repr__(self) -> str:
        return f"{self.outcome.capitalize()}. {self.message}"


class Exercise:
    """Base class of every exercise: subclasses set ``id``, ``hints`` and ``_check``."""

    id: str = ""
    hints: list[str] = []
    # (old, new) edits that turn the solution into a known wrong answer; the tests
    # prove the check rejects each one.
    wrong: list[tuple[str, str]] = []

    def check(self, *answers: Any) -> Feedback:
        """Check your answer and say what, if anything, is wrong."""
        try:
            self.evaluate(*answers)
        except NotAttempted as error:
            return Feedback("not attempted", str(error))
        except Incorrect as error:
            return Feedback("incorrect", str(error))
        except Exception as error:  # a crash in the learner's code is feedback, not a traceback
            return Feedback("incorrect", f"your code raised {type(error).__name__}: {error}")
        return Feedback("correct", "Well done.")

    def evaluate(self, *answers: Any) -> None:
        """Raise ``NotAttempted`` or ``Incorrect``, or return if the answer is right."""
        if any(_has_blank(answer) for answer in answers):
            raise NotAttempted("Replace every `____` in the exercise cell, run it, then check again.")
        result = self._check(*answers)
        if inspect.isawaitable(result):
            _run_in_thread(result)

    def hint(self, n: int = 1) -> _Markdown:
        """Show hint number ``n`` (1, 2, ...)."""
        if not self.hints:
            return _Markdown("No hints for this one: try the solution.")
        n = max(1, min(n, len(self.hints)))
        more = f" (`hint({n + 1})` for another)" if n < len(self.hints) else ""
        return _Markdown(f"💡 **Hint {n} of {len(self.hints)}:** {self.hints[n - 1]}{more}")

    def solution(self) -> _Markdown:
        """Show the solution; ``%load solutions/<id>.py`` pulls it into a cell."""
        code = self.solution_path.read_text()
        return _Markdown(f"Solution (`%load solutions/{self.id}.py` loads it into a cell):\n\n"
                         f"```python\n{code}```", code)

    @property
    def solution_path(self) -> Path:
        return SOLUTIONS / f"{self.id}.py"

    def _check(self, *answers: Any) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        doc = (type(self).__doc__ or "").strip()
        return f"Exercise {self.id}: {doc}\nq.check(...), q.hint(), q.solution()"


class _Markdown:
    def __init__(self, text: str, plain: str | None = None) -> None:
        self.text, self.plain = text, plain

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.plain if self.plain is not None else html.unescape(self.text)


@contextmanager
def quiet(app: Any):
    """Keep a crashing answer's traceback out of the notebook: the check reports it in words."""
    logger = logging.getLogger(app.name)
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


def _has_blank(obj: Any, depth: int = 0) -> bool:
    """True if ``obj`` is ``____`` or code that still mentions it."""
    if obj is ____:
        return True
    if depth > 3:
        return False
    if isinstance(obj, (list, tuple, set)):
        return any(_has_blank(item, depth + 1) for item in obj)
    if isinstance(obj, dict):
        return any(_has_blank(item, depth + 1) for item in obj.values())
    code = getattr(getattr(obj, "__wrapped__", obj), "__code__", None)
    if isinstance(code, types.CodeType):
        return _code_mentions_blank(code)
    views = getattr(obj, "view_functions", None)  # a Quart or Flask app: look at its views
    if isinstance(views, dict):
        funcs = list(views.values()) + list(getattr(obj, "before_serving_funcs", []))
        funcs += list(getattr(obj, "after_serving_funcs", []))
        return any(_has_blank(func, depth + 1) for func in funcs)
    return False


def _code_mentions_blank(code: types.CodeType) -> bool:
    if "____" in code.co_names:
        return True
    return any(_code_mentions_blank(c) for c in code.co_consts if isinstance(c, types.CodeType))


def _run_in_thread(awaitable: Any) -> Any:
    """Run an async check to completion from any cell (the kernel's loop is already running)."""

    async def main() -> Any:
        return await awaitable

    with ThreadPoolExecutor(1, thread_name_prefix="exercise-check") as worker:
        return worker.submit(asyncio.run, main()).result()
