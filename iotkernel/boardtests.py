"""Board tests: files of tests written for the board, run there, reported per test.

Owns what needs no board: finding a file's tests on the host (unittest
`TestCase` methods and module-level `test_*` functions, by reading its syntax
tree, so each is known before anything runs), the board-side runner as
checked pieces, the call that runs a module's tests, and reading the
runner's result lines (`\\x1eT` + JSON, one per test, then `\\x1eE` + count),
which are untrusted: each is checked, and anything else is the tests' own
output. The pytest plugin (`pytest_plugin.py`) runs them on a `Device`.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MalformedReplyError
from .helper_calls import module_pieces

NAMESPACE = "__iotk_test"
RESULT_LINE = b"\x1eT"
END_LINE = b"\x1eE"
STATUSES = ("pass", "fail", "error", "skip")
# The board folder the test files are copied to (imported from there, so
# tracebacks name the file and line).
BOARD_TEST_DIR = "/_tests"
_MAX_LINE = 16 * 1024

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


def run_call(module: str, wanted: list[str] | None) -> str:
    """The statement that runs `module`'s tests (`wanted` of them, or all)."""
    return (
        f"__import__('sys').path.insert(0, {BOARD_TEST_DIR!r})\n"
        f"try:\n    __import__('sys').modules[{NAMESPACE!r}]['run']({module!r}, {wanted!r})\n"
        f"finally:\n    __import__('sys').path.remove({BOARD_TEST_DIR!r})\n"
    )


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


@dataclass
class ResultReader:
    """Reads the runner's output as it arrives: results, and the text between."""

    results: dict[str, BoardResult] = field(default_factory=dict)
    ran: int | None = None  # the count the end line gave: None until the run ended
    _pending: bytearray = field(default_factory=bytearray)
    _output: list[str] = field(default_factory=list)

    def feed(self, data: bytes) -> None:
        self._pending += data
        while (end := self._pending.find(b"\n")) >= 0:
            line = bytes(self._pending[: end + 1])
            del self._pending[: end + 1]
            self._line(line)
        if len(self._pending) > _MAX_LINE and not self._pending.startswith(b"\x1e"):
            self._output.append(self._pending.decode("utf-8", "replace"))
            self._pending.clear()

    def leftover_output(self) -> str:
        """What was printed after the last result (by the module, at import)."""
        return "".join(self._output) + self._pending.decode("utf-8", "replace")

    def _line(self, line: bytes) -> None:
        stripped = line.rstrip(b"\r\n")
        if stripped.startswith(RESULT_LINE):
            result = parse_result(stripped[len(RESULT_LINE) :])
            result.output = "".join(self._output)
            self._output.clear()
            self.results[result.name] = result
        elif stripped.startswith(END_LINE) and stripped[len(END_LINE) :].isdigit():
            self.ran = int(stripped[len(END_LINE) :])
        else:
            self._output.append(line.decode("utf-8", "replace").replace("\r\n", "\n"))


def parse_result(data: bytes) -> BoardResult:
    """A result line's JSON, checked (it comes from the board)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedReplyError("a board test result", "a JSON object", data[:200]) from None
    if not isinstance(value, dict):
        raise MalformedReplyError("a board test result", "a JSON object", value)
    fields = {key: value.get(key, "") for key in ("n", "s", "m", "tb")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise MalformedReplyError("a board test result", "text fields n, s, m, tb", value)
    if fields["s"] not in STATUSES or not 0 < len(fields["n"]) <= 300:
        raise MalformedReplyError("a board test result", f"a name and one of {STATUSES}", value)
    return BoardResult(fields["n"], fields["s"], fields["m"], fields["tb"])
