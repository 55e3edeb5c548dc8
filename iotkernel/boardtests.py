"""Board tests: files of tests written for the board, run there, reported per test.

Owns what needs no board: finding a file's tests on the host (unittest
`TestCase` methods and module-level `test_*` functions, by reading its syntax
tree, so each is known before anything runs), the board-side runner as
checked pieces, the call that runs a module's tests, and reading the
runner's result lines (`\\x1eT` + the run's secret + JSON, one per test,
then `\\x1eE` + the secret + count). A test's output is output whatever it
contains: a line counts as a result only with the secret given to this run's
runner (printed by nothing else), is bounded in length and nesting, and is
checked; a test's captured output is kept up to OUTPUT_LIMIT, the rest
counted. The pytest plugin (`pytest_plugin.py`) runs them on a `Device`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from .device.calls import module_pieces
from .errors import MalformedReplyError
from .inband import SECRET_LENGTH, InbandError, LineScanner, loads_bounded, secret_matches
from .util import human_size

NAMESPACE = "__iotk_test"
RESULT_LINE = b"\x1eT"
END_LINE = b"\x1eE"
STATUSES = ("pass", "fail", "error", "skip")
# The board folder the test files are copied to (imported from there, so
# tracebacks name the file and line).
BOARD_TEST_DIR = "/_tests"
# A result line (mark, secret, JSON, newline) is at most this long: the
# runner cuts messages to 2,000 and tracebacks to 8,000 characters.
_MAX_LINE = 24 * 1024
# What one test printed, kept for its report; the rest is counted.
OUTPUT_LIMIT = 64 * 1024

RUNNER_PIECES = module_pieces("testrunner.py", NAMESPACE)


@dataclass(frozen=True)
class BoardTest:
    """A test of a board test file: `Class.method` or `function`, and its line."""

    name: str
    line: int


def find_tests(source: str, filename: str = "<file>") -> list[BoardTest]:
    """The tests of a board test file, in file order. Raises SyntaxError."""
    tree = ast.parse(source, filename)
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            found.append(BoardTest(node.name, node.lineno))
        elif isinstance(node, ast.ClassDef) and any(_is_test_case(b) for b in node.bases):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                    found.append(BoardTest(f"{node.name}.{item.name}", item.lineno))
    return found


def _is_test_case(base: ast.expr) -> bool:
    """`TestCase` or `unittest.TestCase` (or a class whose name ends so)."""
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
    return name.endswith("TestCase")


def module_name(path: Path) -> str:
    """The module a test file is imported as on the board."""
    name = path.stem
    if not name.isidentifier():
        raise ValueError(f"{path.name}: a board test file's name must be a Python identifier")
    return name


@dataclass
class BoardResult:
    """One board-side test's outcome, with what it printed."""

    name: str
    status: str
    message: str = ""
    traceback: str = ""
    output: str = ""

    def failing_line(self, board_path: str) -> int | None:
        """The last line of `board_path` the traceback names (where it failed)."""
        lines = re.findall(rf'File "{re.escape(board_path)}", line (\d+)', self.traceback)
        return int(lines[-1]) if lines else None


class _Captured:
    """A test's output: the first OUTPUT_LIMIT bytes kept, the rest counted."""

    def __init__(self) -> None:
        self.kept = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = OUTPUT_LIMIT - len(self.kept)
        self.kept += data[:room]
        self.dropped += max(0, len(data) - room)

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace").replace("\r\n", "\n")
        if self.dropped:
            text += f"\n… {human_size(self.dropped)}B more\n"
        return text


class ResultReader:
    """Reads the runner's output as it arrives: results, and the text between.

    Only lines with `secret` are results; a malformed one of those raises
    MalformedReplyError (our runner printed it: a bug, not a test's output)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.results: dict[str, BoardResult] = {}
        self.ran: int | None = None  # the count the end line gave: None until the run ended
        self._scanner = LineScanner(b"\x1e", _MAX_LINE)
        self._output = _Captured()

    def feed(self, data: bytes) -> None:
        for segment in self._scanner.feed(data):
            if segment.line is None or not self._take(segment.line):
                self._output.add(segment.raw)

    def leftover_output(self) -> str:
        """What was printed after the last result (by the module, at import)."""
        self._output.add(self._scanner.flush())
        return self._output.text()

    def _take(self, line: bytes) -> bool:
        """Act on a line after the mark if it is the runner's; False if not."""
        kind, given, body = line[:1], line[1 : 1 + SECRET_LENGTH], line[1 + SECRET_LENGTH :]
        if kind not in (b"T", b"E") or not secret_matches(given, self.secret):
            return False
        if kind == b"T":
            result = parse_result(body)
            result.output = self._output.text()
            self._output = _Captured()
            self.results[result.name] = result
        elif body.isdigit() and len(body) < 8:
            self.ran = int(body)
        else:
            raise MalformedReplyError("a board test run's end", "a count of tests", body[:200])
        return True


def parse_result(data: bytes) -> BoardResult:
    """A result line's JSON, checked (it comes from the board)."""
    try:
        value = loads_bounded(data, max_depth=2)
    except InbandError:
        raise MalformedReplyError("a board test result", "a JSON object", data[:200]) from None
    if not isinstance(value, dict):
        raise MalformedReplyError("a board test result", "a JSON object", value)
    fields = {key: value.get(key, "") for key in ("n", "s", "m", "tb")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise MalformedReplyError("a board test result", "text fields n, s, m, tb", value)
    if fields["s"] not in STATUSES or not 0 < len(fields["n"]) <= 300:
        raise MalformedReplyError("a board test result", f"a name and one of {STATUSES}", value)
    return BoardResult(fields["n"], fields["s"], fields["m"], fields["tb"])
