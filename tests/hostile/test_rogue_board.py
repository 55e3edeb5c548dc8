"""A rogue board's replies are data: checked for type, size and depth, each
bad one a typed error naming the operation, and the board usable after.

Runs on the fake, the unix port and the 40 KB QEMU board (real MicroPython
building the hostile replies); see rogue.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iotkernel.config import DeviceConfig, Resource
from iotkernel.device import Device
from iotkernel.device import client as device_client
from iotkernel.errors import (
    HelperReplyError,
    MalformedReplyError,
    ProtocolError,
    ReplyTooLargeError,
)
from iotkernel.files import FileError, FileService, FileTooLargeError
from iotkernel.sync import make_plan

from ..backends import Backend
from . import rogue

pytestmark = pytest.mark.backends("fake", "unix", "pico", "qemu-small")


def identity(device: Device) -> Any:
    return device.identity(refresh=True)


def list_lib(device: Device) -> Any:
    return FileService(device).tree("/lib")


def read_file(device: Device) -> Any:
    return FileService(device).read("/any.txt")


CASES: dict[str, tuple[str, Callable[[Device], Any], type[Exception]]] = {
    "uid-is-a-list": (rogue.IDENT_UID_LIST, identity, MalformedReplyError),
    "platform-of-300-characters": (rogue.IDENT_HUGE_PLATFORM, identity, MalformedReplyError),
    "bytes-tag-holding-a-number": (rogue.BYTES_TAG_NOT_TEXT, identity, HelperReplyError),
    "reply-nested-1050-deep": (rogue.deep_reply(1050), identity, ProtocolError),
    "reply-nested-150-deep": (rogue.deep_reply(150), identity, MalformedReplyError),
    "listed-path-of-1100-characters": (
        rogue.listing("['/lib/' + 'n' * 1100, False, 1, 0, None]"),
        list_lib,
        MalformedReplyError,
    ),
    "listed-size-is-text": (
        rogue.listing("['/lib/a.py', False, 'big', 0, None]"),
        list_lib,
        MalformedReplyError,
    ),
    "listed-size-is-negative": (
        rogue.listing("['/lib/a.py', False, -1, 0, None]"),
        list_lib,
        MalformedReplyError,
    ),
    "listed-path-climbs-out": (
        rogue.listing("['/lib/../../boot.py', False, 1, 0, None]"),
        list_lib,
        MalformedReplyError,
    ),
    "listed-path-outside-the-root": (
        rogue.listing("['/boot.py', False, 1, 0, None]"),
        list_lib,
        MalformedReplyError,
    ),
    "listed-row-is-not-a-row": (rogue.listing("5"), list_lib, MalformedReplyError),
    "file-of-a-terabyte": (rogue.lying_file(10**12, "b''"), read_file, FileTooLargeError),
    "chunk-longer-than-asked": (
        rogue.lying_file(100_000, "b'x' * (n + 1)"),
        read_file,
        FileError,
    ),
    "file-longer-than-announced": (rogue.lying_file(10, "b'y' * 20"), read_file, FileError),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_reply_is_one_typed_error_and_the_board_stays_usable(
    backend: Backend, case: str
) -> None:
    source, operation, error = CASES[case]
    with backend.open(deadline=20.0) as device:
        rogue.make_rogue(device, source)
        with pytest.raises(error) as raised:
            operation(device)
        assert len(str(raised.value)) < 400  # a readable line, not the hostile value
        assert device.exec("print(6 * 7)").strip() == b"42"


def test_escape_sequences_in_an_identity_are_shown_escaped(backend: Backend) -> None:
    with backend.open() as device:
        rogue.make_rogue(device, rogue.IDENT_ESCAPES)
        platform = device.identity(refresh=True).platform
    assert "\x1b" not in platform and "\x07" not in platform
    assert platform.endswith("rogue") and "\\x1b" in platform


def test_a_listing_that_climbs_out_plans_no_delete(backend: Backend, tmp_path: Path) -> None:
    """%rsync deletes what the board lists under a managed folder: a listing
    naming /lib/../boot.py must stop the plan, not delete the board's boot.py."""
    (tmp_path / "lib").mkdir()
    config = DeviceConfig("rogue", None, (Resource(tmp_path / "lib", "/"),))
    with backend.open(deadline=20.0) as device:
        rogue.make_rogue(device, rogue.listing("['/lib/../boot.py', False, 1, 0, 'sha256:00']"))
        with pytest.raises(MalformedReplyError, match="list /lib"):
            make_plan(FileService(device), config)


@pytest.mark.parametrize("source", ["ENDLESS_LISTING", "JUNK_ROWS"])
def test_a_listing_past_its_bounds_stops_there_and_the_board_stays_usable(
    backend: Backend, tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bound on rows, lowered: an emulated Pico streams 20,000 rows in a
    # minute, and what is tested is that the bound stops the listing.
    monkeypatch.setattr(device_client, "MAX_HELPER_ROWS", 2000)
    (tmp_path / "lib").mkdir()
    config = DeviceConfig("rogue", None, (Resource(tmp_path / "lib", "/"),))
    with backend.open(deadline=20.0) as device:
        rogue.make_rogue(device, getattr(rogue, source))
        # (A 40 KB heap may not even make a 9 KB row: that is a FileError.)
        with pytest.raises((ReplyTooLargeError, HelperReplyError, FileError)) as stopped:
            make_plan(FileService(device), config)
        if isinstance(stopped.value, ReplyTooLargeError):
            assert "2000 rows" in str(stopped.value) or "8192 bytes" in str(stopped.value)
        assert device.exec("print(6 * 7)").strip() == b"42"
