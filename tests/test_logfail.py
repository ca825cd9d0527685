"""The logfail fixture: an error logged during a test fails it unless the test declared it."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import LogFail


def test_unexpected_errors_are_told_from_expected_ones() -> None:
    handler = LogFail()
    handler.expect(r"a known \w+")
    log = logging.getLogger("lanterna-logfail-test")
    log.propagate = False  # only this handler hears it
    log.addHandler(handler)
    try:
        log.error("a known problem")
        log.error("a new problem")
        log.warning("only a warning")  # below the level: not kept
    finally:
        log.removeHandler(handler)
    assert [r.getMessage() for r in handler.unexpected()] == ["a new problem"]
    assert len(handler.seen("problem")) == 2


def test_an_error_the_test_expects_passes(logfail: LogFail) -> None:
    logfail.expect("the disk is on fire")
    logging.getLogger("engine.store").error("the disk is on fire")
    assert logfail.seen("on fire")


@pytest.mark.expect_log_errors("declared by a marker")
def test_a_marker_declares_expected_errors() -> None:
    logging.getLogger("engine.watcher").error("an error declared by a marker")
