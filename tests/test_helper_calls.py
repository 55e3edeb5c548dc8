"""The pure pieces under Device, without a board: helper calls and their
replies (`device.calls`), tracebacks (`tracebacks`), error numbers (`mp_errno`)."""

from __future__ import annotations

import errno
import json
import zlib
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotkernel import mp_errno
from iotkernel.device.calls import (
    HELPERS,
    MODULE_PIECE_LIMIT,
    PIECE_LIMIT,
    Probe,
    decode_reply,
    decode_rows,
    decode_streamed_rows,
    eval_arguments,
    parse_probe,
    payload_arguments,
    split_top_level,
)
from iotkernel.errors import DeviceKeyboardInterrupt, DeviceOSError, HelperReplyError
from iotkernel.tracebacks import device_exception


def reply(value: object, request_crc: int) -> bytes:
    """What the board's `put` prints for `value`."""
    payload = json.dumps(value).encode()
    return b"noise\x1e" + payload + b"\x1f%08x%08x\r\n" % (zlib.crc32(payload), request_crc)


def row(value: object) -> bytes:
    payload = json.dumps(value).encode()
    return b"\x1d" + payload + b"\x1f%08x\r\n" % zlib.crc32(payload)


@given(st.recursive(st.none() | st.integers() | st.text(), lambda c: st.lists(c, max_size=4)))
def test_a_reply_decodes_to_its_value(value: object) -> None:
    assert decode_reply(reply(value, 1234), 1234) == value


def test_bytes_travel_tagged() -> None:
    assert decode_reply(reply({"__iotk_bytes__": "AAEC"}, 7), 7) == b"\x00\x01\x02"


@pytest.mark.parametrize(
    "damage",
    [
        lambda out: out.replace(b"\x1e", b""),  # no reply mark
        lambda out: out.replace(b"42", b"43"),  # corrupted on the way
        lambda out: out[:-4] + b"\r\n",  # CRC values cut short
        lambda out: out.replace(b"\x1f", b"|"),  # no check mark
    ],
    ids=["no-mark", "corrupted", "short-crc", "no-check-mark"],
)
def test_a_damaged_reply_is_a_helper_reply_error(damage: object) -> None:
    with pytest.raises(HelperReplyError):
        decode_reply(damage(reply([42], 9)), 9)  # type: ignore[operator]


def test_a_reply_to_another_request_is_refused() -> None:
    with pytest.raises(HelperReplyError, match="the reply to this request"):
        decode_reply(reply([1], 1), 2)


def test_rows_are_counted_and_checked() -> None:
    out = row("a") + row(["b", 1])
    assert decode_rows(out, 2) == ["a", ["b", 1]]
    with pytest.raises(HelperReplyError, match="3 rows"):
        decode_rows(out, 3)
    with pytest.raises(HelperReplyError, match="CRC-32 matches"):
        decode_rows(out.replace(b'"a"', b'"x"'), 2)
    streamed = out + reply({"__iotk_rows__": 2}, 5).removeprefix(b"noise")
    assert decode_streamed_rows(streamed, 5) == ["a", ["b", 1]]
    with pytest.raises(HelperReplyError, match="count of streamed rows"):
        decode_streamed_rows(out + reply([2], 5).removeprefix(b"noise"), 5)


def test_call_arguments_are_quoted_and_checked() -> None:
    arguments, crc = eval_arguments("x'); import os; ('", user=True)
    assert arguments.startswith("globals(), ") and arguments.endswith(", True")
    assert crc == zlib.crc32(b"x'); import os; ('")
    path, payload = "/a'b", b"\x00data"
    quoted, payload_crc = payload_arguments((path, 3), payload)
    assert quoted == f"{path!r}, 3, {payload!r}, {payload_crc}"
    assert payload_crc == zlib.crc32(payload)


def test_the_helpers_come_in_pieces_a_small_heap_can_compile() -> None:
    for group, key in ((HELPERS.core, "VERSION"), (HELPERS.files, "FILES")):
        assert len(group.pieces) > 1
        assert group.pieces[-1].count(f"{key} = ") == 1
        assert all(len(piece) < 2 * PIECE_LIMIT for piece in group.pieces)
    # Evaluating is the core's; reading and writing files are not.
    assert HELPERS.group_of("ev") is HELPERS.core and HELPERS.group_of("ident") is HELPERS.core
    assert {"rx", "tx", "wbegin", "trees", "hashkind"} <= HELPERS.files.names
    assert HELPERS.files.version != HELPERS.core.version
    source = "a = 1\n# a comment\n\ndef f():\n    return 2\nif a:\n    pass\nelse:\n    pass\n"
    pieces = split_top_level(source, 12)
    assert "".join(pieces) == "a = 1\ndef f():\n    return 2\nif a:\n    pass\nelse:\n    pass\n"
    assert all(len(piece) <= PIECE_LIMIT for piece in split_top_level(source, PIECE_LIMIT))


def test_a_string_spanning_lines_is_never_cut_nor_thinned() -> None:
    """Code compiled on the board from a string (rawpath.py's viper
    unescaper) has lines at column 0 and may have '#' lines: a piece must
    never end inside it, nor lose a line of it."""
    body = "@decorated\ndef g(b):\n\n    # kept: inside the string\n    return b\n"
    source = f'x = 1\nCODE = """\n{body}"""\n# dropped\n@dec\ndef h():\n    pass\n'
    for limit in (1, 20, 1000):
        pieces = split_top_level(source, limit)
        namespace: dict[str, object] = {"dec": lambda f: f}
        for piece in pieces:
            exec(piece, namespace)
        assert namespace["CODE"] == "\n" + body
        assert "# dropped" not in "".join(pieces)
    assert split_top_level(source, 1)[2] == "@dec\ndef h():\n    pass\n"


def test_the_variable_inspector_arrives_in_pieces_a_fragmented_heap_compiles() -> None:
    # It is installed when the user's data already fills a small heap (a
    # 1.2 KB function of it once found no free block on the 40 KB board):
    # no top-level statement of it may be larger than a module piece.
    source = resources.files("iotkernel.board").joinpath("inspector.py").read_text()
    statements = split_top_level(source, 1)
    assert len(statements) > 10
    assert max(len(statement) for statement in statements) <= MODULE_PIECE_LIMIT


def test_a_probe_reply_gives_version_and_free_heap() -> None:
    assert parse_probe(b"\x1eabc def 1234\r\n") == Probe("abc", "def", 1234)
    assert parse_probe(b"\x1eNone None -\r\n") == Probe("None", "None", 0)
    assert parse_probe(b"\x1e\r\n") == Probe("", "", 0)


def test_tracebacks_become_typed_errors() -> None:
    trace = b'Traceback (most recent call last):\r\n  File "<stdin>", line 1\r\n'
    missing = device_exception(trace + b"OSError: [Errno 2] ENOENT\r\n")
    assert isinstance(missing, DeviceOSError)
    assert missing.device_errno == 2 and missing.errno == errno.ENOENT
    assert missing.strerror == "ENOENT"
    assert isinstance(device_exception(trace + b"KeyboardInterrupt: \r\n"), DeviceKeyboardInterrupt)
    other = device_exception(trace + b"ValueError: bad\r\n")
    assert (other.exc_type, other.message) == ("ValueError", "bad")
    assert device_exception(b"garbage (\r\n").exc_type == "Error"


def test_error_numbers_are_explained_by_name() -> None:
    assert mp_errno.reason(2, "ENOENT") == "no such file or directory"
    assert mp_errno.reason(39, "ENOTEMPTY") == "the directory is not empty"
    assert mp_errno.reason(110, "ETIMEDOUT") == "ETIMEDOUT"
    assert mp_errno.reason(110, "[Errno 110] timed out") == "ETIMEDOUT ([Errno 110] timed out)"
    assert mp_errno.reason(999, "odd") == "error 999 (odd)"
    assert all(mp_errno.host_errno(n) is not None for n in mp_errno.NAMES)
