"""Shared test configuration. Real servers live in tests/support as fixture plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


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
