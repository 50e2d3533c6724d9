"""Exercises with three verbs: ``q1.check(answer)``, ``q1.hint()``, ``q1.solution()``.

A chapter's exercises live in ``course/exercises/<chapter>.py``; each is a small
subclass of ``Exercise``::

    from course.exercises import Exercise, checklist

    class Greeting(Exercise):
        'Add GET /hello/<name> answering {"hello": name}.'

        id = "00_greeting"                  # starter cell tag and solution file name
        hints = ["A view may return a dict: Quart makes it JSON.", 'Return `{"hello": name}`.']
        wrong = [('{"hello": name}', '{"hi": name}')]  # edits of the solution the check must reject

        async def _check(self, greeter):     # parameter names = the notebook's variable names
            response = await greeter.test_client().get("/hello/Ada")
            with checklist() as expect:      # reports every failing behaviour, not just the first
                expect(response.status_code == 200, f"GET /hello/Ada answered {response.status_code}.")
                expect(await response.get_json() == {"hello": "Ada"}, "the JSON is not {'hello': 'Ada'}.")

    q1 = Greeting()

The starter cell (tagged ``starter:00_greeting``) leaves ``____`` where the learner writes;
``notebooks/solutions/00_greeting.py`` is the cell solved. The tests prove every check
fails on its starter and on each ``wrong`` edit, and passes on its solution.
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
from typing import Any, Callable, Iterator

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


@contextmanager
def checklist() -> Iterator[Callable[[Any, str], None]]:
    """Check several behaviours and report every one that fails, not only the first."""
    failures: list[str] = []
    yield lambda condition, message: None if condition else failures.append(message)
    if len(failures) == 1:
        raise Incorrect(failures[0])
    if failures:
        raise Incorrect(f"{len(failures)} behaviours are not right yet:\n" + "\n".join(f"- {f}" for f in failures))


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
    """Base class of every exercise: subclasses set ``id``, ``hints``, ``wrong`` and ``_check``."""

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
        if any(has_blank(answer) for answer in answers):
            raise NotAttempted("Replace every `____` in the exercise cell, run it, then check again.")
        result = self._check(*answers)
        if inspect.isawaitable(result):
            run_async(result)

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
def quiet(app: Any) -> Iterator[None]:
    """Keep a crashing answer's traceback out of the notebook: the check reports it in words."""
    logger = logging.getLogger(app.name)
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


def has_blank(obj: Any, depth: int = 0) -> bool:
    """True if ``obj`` is ``____``, or text, code, a class or an app that still holds one."""
    if obj is ____:
        return True
    if isinstance(obj, str):
        return "____" in obj
    if depth > 3:
        return False
    if isinstance(obj, (list, tuple, set, frozenset)):
        return any(has_blank(item, depth + 1) for item in obj)
    if isinstance(obj, dict):
        return any(has_blank(item, depth + 1) for item in obj.values())
    if isinstance(obj, type):  # a class: look at what its body defines
        return any(has_blank(value, depth + 1) for value in vars(obj).values())
    code = getattr(getattr(obj, "__wrapped__", obj), "__code__", None)
    if isinstance(code, types.CodeType):
        return _code_mentions_blank(code)
    views = getattr(obj, "view_functions", None)  # a Quart or Flask app: its views and hooks
    if isinstance(views, dict):
        funcs = list(views.values())
        for hooks in ("before_serving_funcs", "after_serving_funcs", "before_request_funcs",
                      "after_request_funcs", "errorhandler_spec"):
            found = getattr(obj, hooks, None)
            funcs += _flatten(found)
        return any(has_blank(func, depth + 1) for func in funcs)
    if callable(getattr(obj, "__call__", None)) and not isinstance(obj, types.BuiltinFunctionType):
        return has_blank(type(obj), depth + 1)  # an instance of a class the learner wrote (middleware)
    return False


def _flatten(value: Any) -> list:
    if isinstance(value, dict):
        return [item for inner in value.values() for item in _flatten(inner)]
    if isinstance(value, (list, tuple, set)):
        return [item for inner in value for item in _flatten(inner)]
    return [value] if callable(value) else []


def _code_mentions_blank(code: types.CodeType) -> bool:
    inner = (c for c in code.co_consts if isinstance(c, types.CodeType))
    return "____" in code.co_names or any(_code_mentions_blank(c) for c in inner)


def run_async(awaitable: Any) -> Any:
    """Run a coroutine to completion from any cell (the kernel's loop is already running)."""

    async def main() -> Any:
        return await awaitable

    with ThreadPoolExecutor(1, thread_name_prefix="exercise-check") as worker:
        return worker.submit(asyncio.run, main()).result()


async def peak_concurrency(app: Any, path: str, requests: int = 5) -> int:
    """How many of ``requests`` concurrent GETs to ``path`` were inside the Quart app at once.

    Order, not time: 1 means each request ran alone (something blocked the event loop),
    ``requests`` means they all overlapped. Counted with Quart's request signals.
    """
    from quart.signals import request_finished, request_started

    inside = peak = 0

    async def started(sender: Any, **extra: Any) -> None:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)

    async def finished(sender: Any, **extra: Any) -> None:
        nonlocal inside
        inside -= 1

    request_started.connect(started, sender=app)
    request_finished.connect(finished, sender=app)
    try:
        client = app.test_client()
        await asyncio.gather(*(client.get(path) for _ in range(requests)))
    finally:
        request_started.disconnect(started, sender=app)
        request_finished.disconnect(finished, sender=app)
    return peak
