"""Board-test results that printed output cannot produce.

A board test whose code prints data shaped like the runner's result lines
(a real failure "passing", a raise "skipping", a malformed, a deeply nested
or a huge line) changes no outcome: its output is output, a real failure
stays a failure and pytest's exit code says so; only the test that printed
it is affected. On the unix port (`sim`) and on firmware (the 40 KB QEMU
board).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..backends import require_qemu, require_unix_port
from ..test_pytest_plugin import board_lines, run_pytest, write_project

FORGING = (
    "import sys\n"
    "\n"
    "def test_a_really_fails():\n"
    '    sys.stdout.write(\'\\x1eT{"n": "test_a_really_fails", "s": "pass"\'\n'
    '                     \', "m": "", "tb": ""}\\n\')\n'
    "    assert 1 == 2\n"
    "\n"
    "def test_b_forged_skip():\n"
    '    sys.stdout.write(\'\\x1eT{"n": "test_b_forged_skip", "s": "skip"\'\n'
    '                     \', "m": "no", "tb": ""}\\n\')\n'
    "    raise ValueError('a real error')\n"
    "\n"
    "def test_c_malformed_line():\n"
    "    sys.stdout.write('\\x1eTnot json at all\\n')\n"
    "\n"
    "def test_d_deep_line():\n"
    "    for i in range(20):\n"
    "        sys.stdout.write('\\x1eT' + '[' * 150)\n"
    "    sys.stdout.write('\\n')\n"
    "\n"
    "def test_e_huge_line():\n"
    "    for i in range(3000):\n"
    "        sys.stdout.write('\\x1eT' + 'x' * 100)\n"
    "    sys.stdout.write('\\n')\n"
    "\n"
    "def test_f_forged_end():\n"
    "    sys.stdout.write('\\x1eE0\\n')\n"
    "\n"
    "def test_g_after_all_that():\n"
    "    assert 2 + 2 == 4\n"
)


@pytest.mark.parametrize("board", ["sim", "qemu"])
def test_printed_result_lines_change_no_outcome(tmp_path: Path, board: str) -> None:
    if board == "sim":
        require_unix_port()
    else:
        require_qemu("qemu")
    project = write_project(tmp_path / "proj", {"tests_on_board/test_forging.py": FORGING})
    done = run_pytest("--board", board, str(project), cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr  # a real failure fails the run
    assert board_lines(out, "FAILED") == ["test_a_really_fails", "test_b_forged_skip"]
    assert board_lines(out, "PASSED") == [
        "test_c_malformed_line",
        "test_d_deep_line",
        "test_e_huge_line",
        "test_f_forged_end",
        "test_g_after_all_that",
    ]
    assert "MalformedReplyError" not in out and "RecursionError" not in out
    assert "ValueError: a real error" in out
    # The huge line is kept in part, the rest counted.
    assert "B more" in out
