"""What a record keeps of the exception that failed its job: bounded, ending where it was raised."""

from __future__ import annotations

from actors.record import MAX_MESSAGE_CHARS, MAX_TRACEBACK_CHARS, Failure, failure


def nested(depth: int, message: str) -> None:
    if depth:
        nested(depth - 1, message)
    raise ValueError(message)


def caught(depth: int, message: str) -> BaseException:
    try:
        nested(depth, message)
    except ValueError as error:
        return error
    raise AssertionError("nested always raises")


def test_a_failure_keeps_its_traceback():
    kept = Failure(**failure(caught(2, "boom")))

    assert (kept.type, kept.message) == ("ValueError", "boom")
    assert kept.traceback.startswith("Traceback (most recent call last):")
    assert "in nested\n    raise ValueError(message)" in kept.traceback
    assert kept.traceback.endswith("ValueError: boom\n")


def test_a_long_failure_keeps_its_end_within_bounds():
    kept = Failure(**failure(caught(300, "x" * 100_000)))

    assert len(kept.message) <= MAX_MESSAGE_CHARS + len("[...]\n")
    assert len(kept.traceback) <= MAX_TRACEBACK_CHARS + len("[...]\n")
    assert kept.traceback.startswith("[...]\n") and kept.traceback.endswith("xxx\n")
