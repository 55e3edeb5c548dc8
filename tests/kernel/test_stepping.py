"""Breakpoints and stepping in board cells, on firmware with sys.settrace:
the emulated Pico built with MICROPY_PY_SYS_SETTRACE (`pico-settrace`),
through a real Jupyter client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ..backends import QemuBoards, fresh_interpreter
from .test_debugger import Debug
from .test_kernel import Kernel

CELL = (
    "def double(x):\n"  # 1
    "    y = x * 2\n"  # 2
    "    return y\n"  # 3
    "total = 0\n"  # 4
    "for i in range(3):\n"  # 5
    "    total += double(i)\n"  # 6
    "print('total', total)\n"  # 7
)


@pytest.fixture
def stepping(qemu_boards: QemuBoards) -> Iterator[tuple[Kernel, Debug]]:
    board = qemu_boards.get("pico-settrace")
    fresh_interpreter(board.url)
    kernel = Kernel()
    try:
        run = kernel.run(f"%connect {board.url}", timeout=60)
        assert run.status == "ok", run.reply
        debug = Debug(kernel)
        debug.start()
        yield kernel, debug
    finally:
        kernel.stop()
        qemu_boards.release("pico-settrace")


def _wait_stopped(debug: Debug, timeout: float = 30) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for event in debug.collect_events(0.2):
            if event["event"] == "stopped" and not event.get("_seen"):
                event["_seen"] = True
                return event
    raise AssertionError(f"no stopped event: {debug.events}")


def _line(debug: Debug) -> tuple[str, int]:
    frames = debug.request("stackTrace", threadId=1)["body"]["stackFrames"]
    return frames[0]["name"], frames[0]["line"]


def _start_cell(kernel: Kernel, code: str) -> str:
    return str(kernel.kc.execute(code, stop_on_error=False))


def _finish(kernel: Kernel, msg_id: str) -> dict[str, Any]:
    return dict(kernel.reply_to(msg_id)["content"])


STRAIGHT = (
    "def double(x):\n"  # 1
    "    y = x * 2\n"  # 2
    "    return y\n"  # 3
    "a = 1\n"  # 4
    "b = double(a)\n"  # 5
    "print('b', b)\n"  # 6
)


def test_a_breakpoint_stops_the_cell_then_steps_in_through_and_out(
    stepping: tuple[Kernel, Debug],
) -> None:
    kernel, debug = stepping
    path = debug.request("dumpCell", code=STRAIGHT)["body"]["sourcePath"]
    reply = debug.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 4}])
    assert reply["body"]["breakpoints"][0]["verified"] is True
    msg_id = _start_cell(kernel, STRAIGHT)
    assert _wait_stopped(debug)["body"]["reason"] == "breakpoint"
    assert _line(debug) == ("<module>", 4)
    frames = debug.request("stackTrace", threadId=1)["body"]["stackFrames"]
    assert frames[0]["source"]["path"] == path
    scopes = debug.request("scopes", frameId=frames[0]["id"])["body"]["scopes"]
    found = debug.request("variables", variablesReference=scopes[0]["variablesReference"])
    assert "a" not in {v["name"] for v in found["body"]["variables"]}  # line 4 has not run
    steps = [("next", ("<module>", 5)), ("stepIn", ("double", 2)), ("next", ("double", 3))]
    for command, where in steps:
        assert debug.request(command, threadId=1)["success"]
        assert _wait_stopped(debug)["body"]["reason"] == "step"
        assert _line(debug) == where, command
    names = [f["name"] for f in debug.request("stackTrace", threadId=1)["body"]["stackFrames"]]
    assert names == ["double", "<module>"]  # the call stack, innermost first
    found = debug.request("inspectVariables")["body"]["variables"]
    assert {v["name"]: v["value"] for v in found}["a"] == "1"
    assert debug.request("stepOut", threadId=1)["success"]
    _wait_stopped(debug)
    assert _line(debug)[0] == "<module>"
    assert debug.request("continue", threadId=1)["success"]
    reply = _finish(kernel, msg_id)
    assert reply["status"] == "ok", reply
    assert kernel.run("print(b)").stream().strip() == "2"


def test_continue_stops_at_the_breakpoint_in_each_round_of_a_loop(
    stepping: tuple[Kernel, Debug],
) -> None:
    kernel, debug = stepping
    path = debug.request("dumpCell", code=CELL)["body"]["sourcePath"]
    debug.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 2}])
    msg_id = _start_cell(kernel, CELL)
    seen = []
    for _ in range(3):  # double() runs once a round
        _wait_stopped(debug)
        assert _line(debug) == ("double", 2)
        variables = debug.request("inspectVariables")["body"]["variables"]
        seen.append({v["name"]: v["value"] for v in variables}.get("i"))
        assert debug.request("continue", threadId=1)["success"]
    reply = _finish(kernel, msg_id)
    assert reply["status"] == "ok", reply
    assert seen == ["0", "1", "2"]
    assert kernel.run("print(total)").stream().strip() == "6"


def test_stop_button_while_stopped_ends_the_cell(stepping: tuple[Kernel, Debug]) -> None:
    kernel, debug = stepping
    path = debug.request("dumpCell", code=CELL)["body"]["sourcePath"]
    debug.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 4}])
    msg_id = _start_cell(kernel, CELL)
    _wait_stopped(debug)
    kernel.km.interrupt_kernel()
    reply = _finish(kernel, msg_id)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
    assert debug.request("continue", threadId=1)["success"] is False  # nothing is stopped
    run = kernel.run("print('after')")  # the board answers, untraced
    assert run.status == "ok" and run.stream().strip() == "after"


def test_pause_interrupts_a_traced_cell_and_the_tracer_leaves_with_the_debugger(
    stepping: tuple[Kernel, Debug],
) -> None:
    kernel, debug = stepping
    code = "import time\nprint('looping')\nwhile True:\n    time.sleep(0.01)\n"
    path = debug.request("dumpCell", code=code)["body"]["sourcePath"]
    debug.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 99}])
    msg_id = _start_cell(kernel, code)
    end = time.monotonic() + 30
    while time.monotonic() < end:  # running, traced, never stopping
        msg = kernel.kc.get_iopub_msg(timeout=30)
        if msg["msg_type"] == "stream" and "looping" in msg["content"]["text"]:
            break
    assert debug.request("pause", threadId=1)["success"]
    reply = _finish(kernel, msg_id)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
    installed = "print('__iotk_dbg' in __import__('sys').modules)"
    assert kernel.run(installed).stream().strip() == "True"
    assert debug.request("disconnect")["success"]
    assert kernel.run(installed).stream().strip() == "False"  # nothing of it left on the board


def test_next_steps_through_a_loop_to_the_end_of_the_cell(
    stepping: tuple[Kernel, Debug],
) -> None:
    kernel, debug = stepping
    path = debug.request("dumpCell", code=CELL)["body"]["sourcePath"]
    debug.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 4}])
    msg_id = _start_cell(kernel, CELL)
    _wait_stopped(debug)
    visited = [_line(debug)]
    for _ in range(30):  # three rounds of two lines, stepped over (never into double)
        debug.request("next", threadId=1)
        _wait_stopped(debug)
        visited.append(_line(debug))
        if visited[-1][1] == 7:
            break
    assert all(name == "<module>" for name, _ in visited), visited
    lines = [line for _, line in visited]
    assert lines[0] == 4 and lines[-1] == 7 and set(lines) <= {4, 5, 6, 7}, lines
    assert lines.count(6) >= 3, lines  # the loop's body, once a round
    debug.request("continue", threadId=1)
    reply = _finish(kernel, msg_id)
    assert reply["status"] == "ok", reply
    assert kernel.run("print(total)").stream().strip() == "6"
