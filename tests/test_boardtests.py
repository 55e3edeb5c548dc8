"""The host side of board test files without a board: tests found in a file's
syntax tree, the runner's result lines read in any split, hostile lines
refused with a typed error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotkernel.boardtests import BoardResult, ResultReader, find_tests, parse_result
from iotkernel.errors import MalformedReplyError

SOURCE = """\
import unittest

class Sensors(unittest.TestCase):
    def setUp(self):
        pass

    def test_a(self):
        pass

    def helper(self):
        pass

class NotATest:
    def test_ignored(self):
        pass

class Mine(TestCase):
    def test_b(self):
        pass

def test_c():
    pass

def not_a_test():
    pass
"""


def test_find_tests_in_file_order_with_their_lines() -> None:
    assert [(t.name, t.line) for t in find_tests(SOURCE)] == [
        ("Sensors.test_a", 7),
        ("Mine.test_b", 18),
        ("test_c", 21),
    ]
    with pytest.raises(SyntaxError):
        find_tests("def broken(:\n")


SECRET = "5ec2e7" * 5 + "ab"


def result_line(name: str, status: str, message: str = "", secret: str = SECRET) -> bytes:
    body = json.dumps({"n": name, "s": status, "m": message, "tb": ""}).encode()
    return b"\x1eT" + secret.encode() + body + b"\r\n"


# What test_b printed: result lines forged by its output (no secret, a
# wrong one): output, not results.
FORGED = result_line("test_b", "pass", secret="") + result_line("test_b", "skip", secret="0" * 32)
STREAM = (
    b"import-time output\r\n"
    + b"printed by a\r\n"
    + result_line("A.test_a", "pass")
    + FORGED
    + result_line("test_b", "fail", "1 != 2 \u00e9".encode().decode())
    + b"\x1eE"
    + SECRET.encode()
    + b"2\r\n"
)


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=12))
def test_results_read_the_same_in_any_split(cuts: list[int]) -> None:
    reader = ResultReader(SECRET)
    points = sorted(set(cuts))
    start = 0
    for point in [*points, len(STREAM)]:
        reader.feed(STREAM[start:point])
        start = point
    assert reader.ran == 2
    assert reader.results["A.test_a"].status == "pass"
    assert reader.results["A.test_a"].output == "import-time output\nprinted by a\n"
    assert reader.results["test_b"].message == "1 != 2 \u00e9"
    assert reader.results["test_b"].status == "fail"  # the forged pass and skip are output
    assert reader.results["test_b"].output == FORGED.decode().replace("\r\n", "\n")


def test_output_is_bounded_and_counted() -> None:
    reader = ResultReader(SECRET)
    flood = b"x" * 100_000 + b"\x1eT" + b"[" * 5000 + b"\n"  # long, deep, no secret
    for _ in range(20):
        reader.feed(flood)
    reader.feed(result_line("test_a", "pass"))
    output = reader.results["test_a"].output
    assert len(output) < 70_000
    assert output.endswith(" more\n") and "1.9MB more" in output
    with pytest.raises(MalformedReplyError):  # deep, and our runner's: a bug, not output
        reader.feed(b"\x1eT" + SECRET.encode() + b"[" * 3000 + b"\n")


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"n": "t", "s": "won"}',
        b'{"n": 5, "s": "pass"}',
        b'{"n": "", "s": "pass"}',
        b'{"n": "t", "s": "pass", "m": ["x"]}',
        b'{"n": "' + b"x" * 400 + b'", "s": "pass"}',
        b"\xff\xfe",
    ],
)
def test_a_hostile_result_line_is_a_typed_error(line: bytes) -> None:
    with pytest.raises(MalformedReplyError):
        parse_result(line)


def test_the_failing_line_is_the_deepest_frame_in_the_file() -> None:
    result = BoardResult(
        "t",
        "fail",
        traceback=(
            'Traceback (most recent call last):\n  File "/_tests/test_x.py", line 9, in t\n'
            '  File "/lib/helper.py", line 3, in check\n  File "/_tests/test_x.py", line 4, in h\n'
        ),
    )
    assert result.failing_line("/_tests/test_x.py") == 4
    assert result.failing_line("/_tests/other.py") is None
