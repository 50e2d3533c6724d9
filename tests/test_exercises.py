"""Every exercise check fails on its starter, passes on its solution, and fails on a known wrong answer."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import nbformat
import pytest

import course.exercises
from course.exercises import Exercise, Incorrect, NotAttempted, ____
from conftest import notebook_paths


def _exercises() -> dict[str, Exercise]:
    found = {}
    for module in pkgutil.iter_modules(course.exercises.__path__):
        namespace = vars(importlib.import_module(f"course.exercises.{module.name}"))
        for value in namespace.values():
            if isinstance(value, Exercise):
                assert value.id not in found, f"two exercises share the id {value.id}"
                found[value.id] = value
    return found


def _starters() -> dict[str, str]:
    found = {}
    for path in notebook_paths():
        for cell in nbformat.read(path, as_version=4).cells:
            for tag in cell.get("metadata", {}).get("tags", []):
                if tag.startswith("starter:"):
                    found[tag.removeprefix("starter:")] = cell.source
    return found


EXERCISES = _exercises()
STARTERS = _starters()


def _answers(exercise: Exercise, code: str) -> list:
    """Run a cell's code and pick the names the check takes (its parameters' names)."""
    namespace = {"____": ____, "__name__": "__exercise__"}
    exec(compile(code, f"<{exercise.id}>", "exec"), namespace)
    names = list(inspect.signature(exercise._check).parameters)
    missing = [name for name in names if name not in namespace]
    assert not missing, f"the cell does not define {missing}"
    return [namespace[name] for name in names]


def test_there_are_exercises():
    assert EXERCISES, "no exercises found in course/exercises"


def test_every_exercise_has_a_starter_cell_and_a_solution_file():
    assert set(EXERCISES) == set(STARTERS), "exercises without a starter cell, or starter cells without an exercise"
    for exercise in EXERCISES.values():
        assert exercise.solution_path.exists(), f"missing {exercise.solution_path}"
        assert exercise.hints, f"{exercise.id} has no hints"


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=lambda e: e.id)
def test_starter_is_not_attempted(exercise):
    with pytest.raises(NotAttempted):
        exercise.evaluate(*_answers(exercise, STARTERS[exercise.id]))
    assert exercise.check(*_answers(exercise, STARTERS[exercise.id])).outcome == "not attempted"


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=lambda e: e.id)
def test_solution_passes(exercise):
    exercise.evaluate(*_answers(exercise, exercise.solution_path.read_text()))


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=lambda e: e.id)
def test_known_wrong_answers_fail(exercise):
    """Each (old, new) pair in ``exercise.wrong`` turns the solution into a wrong answer."""
    assert exercise.wrong, f"{exercise.id} names no known wrong answer"
    solution = exercise.solution_path.read_text()
    for old, new in exercise.wrong:
        assert old in solution, f"{old!r} is not in the solution of {exercise.id}"
        with pytest.raises(Incorrect):
            exercise.evaluate(*_answers(exercise, solution.replace(old, new)))
