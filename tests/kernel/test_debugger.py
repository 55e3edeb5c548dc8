"""The Jupyter debug protocol through a real Jupyter client: the board's
variables for JupyterLab's Variables panel, %who, %whos and %meminfo, with
hostile and vanishing boards."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from ..backends import Backend
from .test_kernel import Kernel

# Variables of several kinds, and code the inspector leaves out.
SETUP = (
    "import machine\n"
    "count = 42\n"
    "ratio = 0.5\n"
    "name = 'pico'\n"
    "blob = b'\\x00\\xff'\n"
    "readings = list(range(30))\n"
    "config = {'rate': 115200, 'pins': [2, 3]}\n"
    "class Sensor:\n"
    "    def __init__(self):\n"
    "        self.pin = 4\n"
    "        self.label = 'temp'\n"
    "sensor = Sensor()\n"
    "def helper():\n"
    "    pass\n"
)


class Debug:
    """DAP requests on the control channel of a running kernel."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.seq = 0
        self.events: list[dict[str, Any]] = []

    def request(self, command: str, timeout: float = 30, **arguments: Any) -> dict[str, Any]:
        self.seq += 1
        content = {"type": "request", "seq": self.seq, "command": command, "arguments": arguments}
        kc = self.kernel.kc
        message = kc.session.msg("debug_request", content)
        kc.control_channel.send(message)
        deadline = time.monotonic() + timeout
        while True:
            reply = kc.control_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
                assert reply["msg_type"] == "debug_reply"
                return dict(reply["content"])

    def collect_events(self, wait: float = 0.5) -> list[dict[str, Any]]:
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                msg = self.kernel.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            if msg["msg_type"] == "debug_event":
                self.events.append(msg["content"])
        return self.events

    def start(self) -> None:
        reply = self.request("initialize", clientID="test", adapterID="iotkernel")
        assert reply["success"], reply.get("message")
        assert self.request("attach")["success"]
        assert self.request("configurationDone")["success"]

    def variables(self) -> dict[str, dict[str, Any]]:
        reply = self.request("inspectVariables")
        assert reply["success"], reply.get("message")
        return {v["name"]: v for v in reply["body"]["variables"]}


def _run_ok(kernel: Kernel, code: str, timeout: float = 60) -> str:
    run = kernel.run(code, timeout=timeout)
    assert run.status == "ok", run.reply
    return run.stream()


def test_kernel_info_offers_the_debugger(kernel: Kernel) -> None:
    kc = kernel.kc
    msg_id = kc.kernel_info()
    reply = kernel.reply_to(msg_id)["content"]
    assert reply["debugger"] is True
    assert "debugger" in reply["supported_features"]


@pytest.mark.backends("fake", "unix", "pico", "qemu-small")
def test_variables_panel_shows_the_boards_variables(board_kernel: Kernel, backend: Backend) -> None:
    debug = Debug(board_kernel)
    debug.start()
    info = debug.request("debugInfo")["body"]
    assert info["isStarted"] is True and info["hashMethod"] == "Murmur2"
    cell = debug.request("dumpCell", code="x = 1\n")["body"]["sourcePath"]
    assert cell.startswith(info["tmpFilePrefix"]) and cell.endswith(info["tmpFileSuffix"])
    assert debug.request("source", source={"path": cell})["body"]["content"] == "x = 1\n"

    _run_ok(board_kernel, SETUP)
    found = debug.variables()
    assert {"count", "ratio", "name", "blob", "readings", "config", "sensor"} <= set(found)
    assert "machine" not in found and "helper" not in found  # modules and functions left out
    assert (found["count"]["type"], found["count"]["value"]) == ("int", "42")
    assert found["name"]["type"] == "str" and found["name"]["value"] == "'pico'"
    assert found["blob"]["type"] == "bytes, len 2"
    assert found["readings"]["type"] == "list, len 30"
    assert found["readings"]["value"].startswith("[0, 1, 2") and "…" in found["readings"]["value"]
    assert found["count"]["variablesReference"] == 0  # nothing to expand

    # Expanded one level at a time: a dict, a list inside it, an object.
    config = debug.request("variables", variablesReference=found["config"]["variablesReference"])
    items = {v["name"]: v for v in config["body"]["variables"]}
    assert items["'rate'"]["value"] == "115200"
    pins = debug.request("variables", variablesReference=items["'pins'"]["variablesReference"])
    assert [v["value"] for v in pins["body"]["variables"]] == ["2", "3"]
    sensor = debug.request("variables", variablesReference=found["sensor"]["variablesReference"])
    assert {v["name"]: v["value"] for v in sensor["body"]["variables"]} == {
        "label": "'temp'",
        "pin": "4",
    }
    rich = debug.request("richInspectVariables", variableName="readings")["body"]
    assert rich["data"]["text/plain"] == repr(list(range(30)))


@pytest.mark.backends("unix")
def test_whos_who_and_meminfo(board_kernel: Kernel, backend: Backend) -> None:
    _run_ok(board_kernel, SETUP)
    who = _run_ok(board_kernel, "%who")
    assert who.split() == [
        "Sensor",
        "blob",
        "config",
        "count",
        "name",
        "ratio",
        "readings",
        "sensor",
    ]
    assert _run_ok(board_kernel, "%who int").split() == ["count"]
    table = _run_ok(board_kernel, "%whos").splitlines()
    assert table[0].split() == ["Variable", "Type", "Data/Info"] and set(table[1]) == {"-"}
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in table[2:]}
    assert rows["count"] == ["int", "42"]
    assert rows["readings"] == ["list", "n=30"]
    assert _run_ok(board_kernel, "%whos float").splitlines()[2].split() == ["ratio", "float", "0.5"]
    assert "No variables match" in _run_ok(board_kernel, "%who complex")
    memory = _run_ok(board_kernel, "%meminfo")
    assert memory.startswith("heap:") and "largest free block" in memory and "stack:" in memory
    verbose = _run_ok(board_kernel, "%meminfo -v")
    assert "GC: total:" in verbose


def test_an_empty_board_and_no_board(kernel: Kernel) -> None:
    debug = Debug(kernel)
    debug.start()
    assert debug.variables() == {}  # no board yet: an empty panel, not an error
    _run_ok(kernel, "%connect fake://debug-empty")
    assert "Interactive namespace is empty" in _run_ok(kernel, "%who")


def test_a_board_without_settrace_says_so_once_and_still_gives_variables(kernel: Kernel) -> None:
    _run_ok(kernel, "%connect fake://debug-bp")
    debug = Debug(kernel)
    debug.start()
    path = debug.request("dumpCell", code="a = 1\nb = 2\n")["body"]["sourcePath"]
    for _ in range(2):
        reply = debug.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 2}])
        assert reply["success"]
        (breakpoint,) = reply["body"]["breakpoints"]
        assert breakpoint["verified"] is False and "sys.settrace" in breakpoint["message"]
    said = [e for e in debug.collect_events() if e["event"] == "output"]
    assert len(said) == 1 and "sys.settrace" in said[0]["body"]["output"]
    assert debug.request("debugInfo")["body"]["breakpoints"] == [
        {"source": path, "breakpoints": [{"line": 2}]}
    ]
    _run_ok(kernel, "a = 1")
    assert "a" in debug.variables()
    assert not debug.request("next", threadId=1)["success"]  # nothing is stopped


def test_malformed_and_unknown_requests_get_a_reply(kernel: Kernel) -> None:
    debug = Debug(kernel)
    assert debug.request("frobnicate")["success"] is False
    kc = kernel.kc
    for content, answered in (
        ({"seq": 1}, False),  # no command
        ({"command": 5}, False),
        ({"command": "variables", "arguments": "x"}, True),  # read as no arguments: nothing
    ):
        message = kc.session.msg("debug_request", content)
        kc.control_channel.send(message)
        while True:
            reply = kc.control_channel.get_msg(timeout=10)
            if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
                break
        assert reply["msg_type"] == "debug_reply"
        assert (reply["content"].get("success") is True) == answered, reply["content"]


# -- hostile values and boards


@pytest.mark.backends("fake", "unix", "qemu-small")
def test_hostile_values_come_back_bounded(board_kernel: Kernel, backend: Backend) -> None:
    debug = Debug(board_kernel)
    debug.start()
    _run_ok(
        board_kernel,
        "huge = 'x' * 5000\n"
        "deep = []\n"
        "for _ in range(200):\n"
        "    deep = [deep]\n"
        "class Liar:\n"
        "    def __repr__(self):\n"
        "        raise ValueError('no')\n"
        "liar = Liar()\n"
        "escape = '\\x1b[2J\\x07'\n",
    )
    found = debug.variables()
    assert len(found["huge"]["value"]) <= 122 and found["huge"]["type"] == "str"
    assert len(found["deep"]["value"]) <= 122
    assert "repr failed: ValueError" in found["liar"]["value"]
    assert "\x1b" not in found["escape"]["value"] and "\\x1b" in found["escape"]["value"]

    # Whole, or (a 40 KB heap) cut to what the board could hold, said by an
    # ellipsis; never an error. 2,000 characters once found no free block
    # for the cut on the 40 KB board; 5,000 are more than it shows whole.
    def check_whole_repr(size: int) -> None:
        answer = debug.request("richInspectVariables", variableName="huge")
        rich = answer.get("body", {}).get("data", {"text/plain": answer.get("message", "")})
        text, whole = rich["text/plain"], repr("x" * size)
        cut = text.endswith("…") and len(text) > 80 and whole.startswith(text[:-1])
        assert text == whole or cut, text[:100]

    check_whole_repr(5000)
    # The old string freed first: the heap has no room for both.
    _run_ok(board_kernel, "huge = None\nhuge = 'x' * 2000")
    check_whole_repr(2000)
    # A reference that was never handed out, a name that is not one.
    assert debug.request("variables", variablesReference=999)["body"]["variables"] == []
    bad = debug.request("richInspectVariables", variableName="__import__('os')")
    assert bad["body"]["data"] == {}


@pytest.mark.backends("fake", "unix")
def test_a_board_that_lies_about_its_variables_is_an_error_reply(
    board_kernel: Kernel, backend: Backend
) -> None:
    debug = Debug(board_kernel)
    debug.start()
    _run_ok(board_kernel, "count = 1")
    _run_ok(board_kernel, "%who")  # the inspector is installed
    for lie in (
        "[['count', 'int', '1', -5, False]]",  # a negative size
        "[['not a name', 'int', '1', None, False]]",
        "[['count', 'int', '1', None, 'yes']]",
        "'not a list'",
        "[['x%d' % i, 'int', '1', None, False] for i in range(600)]",  # more than asked
    ):
        _run_ok(
            board_kernel,
            f"__import__('sys').modules['__iotk_vars']['names'] = lambda g, limit, n: {lie}",
        )
        reply = debug.request("inspectVariables")
        assert reply["success"] is False and "malformed reply" in reply["message"], (lie, reply)
        run = board_kernel.run("%whos")
        assert run.status == "error" and run.reply["ename"] == "MalformedReplyError"


@pytest.mark.backends("unix")
def test_a_board_that_resets_mid_request_gets_an_error_reply_and_the_kernel_answers_on(
    board_kernel: Kernel, backend: Backend
) -> None:
    debug = Debug(board_kernel)
    debug.start()
    _run_ok(board_kernel, "count = 1")
    _run_ok(board_kernel, "%who")
    # The board's process ends while it builds the answer (as a board that
    # resets or loses power does).
    _run_ok(
        board_kernel,
        "def gone(g, limit, n):\n"
        "    __import__('os')._exit(1)\n"
        "__import__('sys').modules['__iotk_vars']['names'] = gone",
    )
    reply = debug.request("inspectVariables")
    assert reply["success"] is False
    assert debug.request("debugInfo")["success"]  # still answering
    assert board_kernel.run("1 + 1", timeout=60).status in ("ok", "error")


@pytest.mark.backends("unix")
def test_while_a_cell_runs_the_panel_keeps_the_last_variables(
    board_kernel: Kernel, backend: Backend
) -> None:
    debug = Debug(board_kernel)
    debug.start()
    _run_ok(board_kernel, "before = 1")
    assert "before" in debug.variables()
    done = threading.Event()

    def long_cell() -> None:
        board_kernel.run("import time\nduring = 2\ntime.sleep(3)", timeout=60)
        done.set()

    runner = threading.Thread(target=long_cell)
    runner.start()
    time.sleep(1.0)  # the cell is running on the board
    start = time.monotonic()
    found = debug.variables()
    assert time.monotonic() - start < 2  # not queued behind the cell
    assert "before" in found and "during" not in found
    runner.join(timeout=60)
    assert done.is_set()
    assert "during" in debug.variables()


@pytest.mark.backends("fake")
def test_text_that_is_not_utf8_is_shown_escaped(board_kernel: Kernel, backend: Backend) -> None:
    """A value with a lone surrogate (text no UTF-8 encoder takes) and control
    characters: shown escaped, and every message still goes to the frontend."""
    debug = Debug(board_kernel)
    debug.start()
    _run_ok(board_kernel, "%who")  # the inspector is installed
    _run_ok(
        board_kernel,
        "__import__('sys').modules['__iotk_vars']['names'] = "
        "lambda g, limit, n: [['odd', 'str', '\\udcff\\x00\\x1b', 3, False]]",
    )
    (variable,) = debug.request("inspectVariables")["body"]["variables"]
    assert variable["value"] == "\\udcff\\x00\\x1b"
    assert "odd" in _run_ok(board_kernel, "%whos")
