"""Shared test configuration. Real servers live in tests/support as fixture plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def pytest_configure(config: pytest.Config) -> None:
    """The test database is a file under var/ (settings.py says why); a fresh clone has no
    var/ yet."""
    from django.conf import settings

    test_name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if test_name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        Path(test_name).parent.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests save screenshots and other artefacts (MAILGATE_TEST_OUTPUT)."""
    path = Path(os.environ.get("MAILGATE_TEST_OUTPUT", ROOT / "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


pytest_plugins = [
    "tests.support.browser",
    "tests.support.certs",
    "tests.support.smtp_sinks",
    "tests.support.smtpd_server",
    "tests.support.dns_server",
    "tests.support.stack",
]
