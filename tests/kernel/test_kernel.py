"""The kernel through a real Jupyter client: what conformance tests do not cover.

Streaming before the cell ends, interrupt, stdin both ways, silent requests,
restart reconnecting, line numbers of the cell, the no-board message, a board
vanishing mid-cell, VS Code's startup snippets, shutdown freeing the port.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient

from fakes.vboard import VirtualSerialBoardProcess
from iotkernel.device import Device

from ..backends import require_unix_port
from .jupyter_env import kernel_manager, prepare


@dataclass
class Run:
    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # arrival time of each message
    replied_at: float = 0.0

    @property
    def status(self) -> str:
        return str(self.reply["status"])

    def stream(self, name: str = "stdout") -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["msg_type"] == "stream" and m["content"]["name"] == name
        )

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["msg_type"] == msg_type]


class Kernel:
    """A running IoT Kernel and a client, with a helper to run cells."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        prepare()
        self.km = kernel_manager()
        self.km.start_kernel(env={**os.environ, **(env or {})})
        self.kc: BlockingKernelClient = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(
        self,
        code: str,
        *,
        timeout: float = 30,
        allow_stdin: bool = False,
        silent: bool = False,
        on_input: Any = None,
        on_message: Any = None,
    ) -> Run:
        msg_id = self.kc.execute(code, allow_stdin=allow_stdin, silent=silent, stop_on_error=False)
        run = Run(reply={})
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            if on_input is not None:
                try:
                    request = self.kc.get_stdin_msg(timeout=0.01)
                    self.kc.input(on_input(request["content"]["prompt"]))
                except queue.Empty:
                    pass  # the cell has not asked for input yet
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"cell did not finish: {code!r}") from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                idle = msg["content"]["execution_state"] == "idle"
                continue
            run.messages.append(msg)
            run.times.append(time.monotonic())
            if on_message is not None:
                on_message(msg)
        reply = self.reply_to(msg_id)
        run.replied_at = time.monotonic()
        run.reply = reply["content"]
        return run

    def reply_to(self, msg_id: str) -> dict[str, Any]:
        """The shell reply to one request (skipping replies to earlier ones)."""
        while True:
            reply = self.kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)


@pytest.fixture
def sim_kernel(kernel: Kernel) -> Kernel:
    require_unix_port()
    assert kernel.run("%connect sim").status == "ok"
    return kernel


def test_cell_before_connect_names_connect_and_discover(kernel: Kernel) -> None:
    start = time.monotonic()
    run = kernel.run("print(1)")
    assert time.monotonic() - start < 5
    assert run.status == "error"
    assert "%connect" in run.reply["evalue"] and "%discover" in run.reply["evalue"]
    assert [m["ename"] for m in run.of_type("error")] == ["NoDeviceError"]


def test_connect_prints_name_and_url(kernel: Kernel) -> None:
    run = kernel.run("%connect fake://")
    assert run.status == "ok"
    assert run.stream().startswith("Connected to fa4e0001 @ fake://")
    assert kernel.run("%name").stream().strip() == "fa4e0001"
    assert kernel.run("%uid").stream().strip() == "fa4e0001"
    info = kernel.run("%info").stream()
    assert "fakeboard" in info and "micropython" in info


def test_output_streams_before_the_cell_ends(sim_kernel: Kernel) -> None:
    run = sim_kernel.run("import time\nprint('first')\ntime.sleep(1.5)\nprint('last')")
    first = next(
        t
        for m, t in zip(run.messages, run.times, strict=True)
        if "first" in m["content"].get("text", "")
    )
    assert run.replied_at - first > 1.0


def test_trailing_expression_is_out_n(sim_kernel: Kernel) -> None:
    run = sim_kernel.run("x = 20\nx * 2 + 2")
    [result] = run.of_type("execute_result")
    assert result["data"] == {"text/plain": "42"}
    assert result["execution_count"] == run.reply["execution_count"]
    assert sim_kernel.run("x = 1;").of_type("execute_result") == []
    assert sim_kernel.run("None").of_type("execute_result") == []


def test_unicode_output_survives(sim_kernel: Kernel) -> None:
    run = sim_kernel.run("print('λ→€😀' * 2000)")
    assert run.stream().strip() == "λ→€😀" * 2000


def test_traceback_has_the_cells_line_numbers(sim_kernel: Kernel) -> None:
    cell = "a = 1\n%name\nb = 2\n\ndef f():\n    return 1 / 0\n\nf()"
    run = sim_kernel.run(cell)
    assert run.status == "error"
    [error] = run.of_type("error")
    assert error["ename"] == "ZeroDivisionError"
    text = "\n".join(error["traceback"])
    assert "line 8" in text and "line 6" in text


def test_error_stops_the_cell_and_reports_error_status(sim_kernel: Kernel) -> None:
    run = sim_kernel.run("print('before')\nraise ValueError('boom')\n%name\nprint('after')")
    assert run.status == "error"
    assert "before" in run.stream() and "after" not in run.stream()
    assert run.reply["ename"] == "ValueError"


@pytest.mark.parametrize(
    "code",
    ["while True: pass", "import time\ntime.sleep(100)", "while True: print('flood' * 20)"],
    ids=["loop", "sleep", "flood"],
)
def test_interrupt_stops_the_board_and_the_next_cell_runs(sim_kernel: Kernel, code: str) -> None:
    # Interrupt once the board runs the cell (its first output), not after a
    # fixed delay: under load the kernel may not have taken the request yet,
    # and a kernel that is not executing ignores an interrupt (Jupyter's rule).
    interrupted_at: list[float] = []

    def interrupt_when_running(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and not interrupted_at:
            interrupted_at.append(time.monotonic())
            threading.Thread(target=sim_kernel.km.interrupt_kernel).start()

    run = sim_kernel.run("print('running')\n" + code, timeout=20, on_message=interrupt_when_running)
    assert interrupted_at and time.monotonic() - interrupted_at[0] < 2.2
    assert run.status == "error"
    assert run.reply["ename"] == "KeyboardInterrupt"
    assert sim_kernel.run("print('still here')").stream().strip() == "still here"


def test_input_becomes_an_input_request(sim_kernel: Kernel) -> None:
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "Ada"

    run = sim_kernel.run(
        "name = input('who? ')\nprint('hi', name)", allow_stdin=True, on_input=answer
    )
    assert run.status == "ok", run.reply
    assert prompts == ["who? "]
    assert "hi Ada" in run.stream()


def test_input_fails_fast_without_stdin(sim_kernel: Kernel) -> None:
    start = time.monotonic()
    run = sim_kernel.run("name = input('who? ')")
    assert time.monotonic() - start < 5
    assert run.status == "error"
    assert run.reply["ename"] == "EOFError"
    # The board's own input() is back for other tools afterwards.
    assert sim_kernel.run("'input' in globals()").of_type("execute_result")[0]["data"] == {
        "text/plain": "False"
    }


def test_silent_requests_show_nothing_and_keep_the_count(sim_kernel: Kernel) -> None:
    before = sim_kernel.run("1").reply["execution_count"]
    run = sim_kernel.run("print('hidden')\n42", silent=True)
    assert run.status == "ok"
    assert run.messages == []
    assert sim_kernel.run("2").reply["execution_count"] == before + 1


def test_vscode_startup_snippets_do_not_touch_the_board(kernel: Kernel) -> None:
    # Not even connected: these must still answer ok, silently.
    snippets = [
        "%config Completer.use_jedi = False",
        "__vsc_ipynb_file__ = '/home/me/tour.ipynb'",
        "try:\n    import matplotlib\n    %matplotlib inline\nexcept Exception:\n    pass",
        "%cd /tmp",
    ]
    for snippet in snippets:
        run = kernel.run(snippet, silent=True)
        assert run.status == "ok", (snippet, run.reply)
        assert run.messages == []


def test_unknown_magic_is_a_usage_error(kernel: Kernel) -> None:
    run = kernel.run("%nosuchmagic")
    assert run.status == "error"
    assert "%lsmagic" in run.reply["evalue"]


def test_magic_help_and_usage_errors_keep_the_kernel(kernel: Kernel) -> None:
    assert "usage: %connect" in kernel.run("%connect -h").stream()
    bad = kernel.run("%connect")
    assert bad.status == "error" and bad.reply["ename"] == "UsageError"
    assert "usage: %softreset" in kernel.run("%softreset --help").stream()
    assert kernel.run("%%host\n1 + 1").of_type("execute_result")[0]["data"]["text/plain"] == "2"


def test_softreset_banner_and_clean_interpreter(sim_kernel: Kernel) -> None:
    run = sim_kernel.run("a = 5\nprint(a)\n%softreset\nprint('this will fail ...')\nprint(a)")
    assert run.status == "error"
    out = run.stream()
    assert "5\n" in out and "!!!!!   softreset ...     !!!!!" in out
    assert "this will fail ..." in out
    assert run.reply["ename"] == "NameError"
    assert "line 5" in "\n".join(run.of_type("error")[0]["traceback"])


def test_host_cells_are_real_ipython(kernel: Kernel) -> None:
    run = kernel.run("%%host\nimport sys\nvalues = [1, 2, 3]\nsys.implementation.name")
    assert run.of_type("execute_result")[0]["data"]["text/plain"] == "'cpython'"
    assert (
        kernel.run("%%host\nsum(values)").of_type("execute_result")[0]["data"]["text/plain"] == "6"
    )


def test_completion_and_inspection_from_the_board(sim_kernel: Kernel) -> None:
    sim_kernel.run("import machine\nsensor_value = 12")
    reply = sim_kernel.kc.complete("machine.", 8, reply=True)["content"]
    assert "machine.unique_id" in reply["matches"]
    reply = sim_kernel.kc.complete("sensor_v", 8, reply=True)["content"]
    assert reply["matches"] == ["sensor_value"]
    reply = sim_kernel.kc.complete("%con", 4, reply=True)["content"]
    assert "%connect" in reply["matches"]
    reply = sim_kernel.kc.complete("%softreset -", 12, reply=True)["content"]
    assert "--quiet" in reply["matches"]
    reply = sim_kernel.kc.inspect("sensor_value", 12, reply=True)["content"]
    assert reply["found"] and "int" in reply["data"]["text/plain"]
    reply = sim_kernel.kc.inspect("%softreset", 3, reply=True)["content"]
    assert "usage: %softreset" in reply["data"]["text/plain"]


def test_completion_follows_the_board_after_connect(kernel: Kernel, tmp_path: Path) -> None:
    """The names Tab offers for an object are the current board's, not those
    cached from the board before %connect."""
    for board, attribute in (("a", "alpha_reading"), ("b", "beta_reading")):
        assert kernel.run(f"%connect fake://complete-{board}-{tmp_path.name}").status == "ok"
        kernel.run(f"class Probe:\n    {attribute} = 1\nprobe = Probe")
        matches = kernel.kc.complete("probe.", 6, reply=True)["content"]["matches"]
        assert f"probe.{attribute}" in matches, matches
        assert not any(
            m.endswith(("alpha_reading", "beta_reading")) and attribute not in m for m in matches
        ), matches


def test_is_complete(kernel: Kernel) -> None:
    def status(code: str) -> str:
        return str(kernel.reply_to(kernel.kc.is_complete(code))["content"]["status"])

    assert status("for i in range(3):") == "incomplete"
    assert status("%connect sim") == "complete"
    assert status("x = 1") == "complete"


def test_what_the_board_prints_between_cells_is_shown(sim_kernel: Kernel) -> None:
    sim_kernel.run(
        "import _thread, time\n"
        "def later():\n"
        "    time.sleep(0.3)\n"
        "    print('from the background')\n"
        "_thread.start_new_thread(later, ())"
    )
    time.sleep(1.0)
    assert "from the background" in sim_kernel.run("print('next')").stream()


def test_restart_reconnects_to_the_notebooks_board(tmp_path: Path) -> None:
    require_unix_port()
    k = Kernel(env={"JPY_SESSION_NAME": str(tmp_path / "notebook.ipynb")})
    try:
        assert k.run("%connect sim").status == "ok"
        k.km.restart_kernel(now=False)
        k.kc.wait_for_ready(timeout=60)
        run = k.run("print('after restart')")
        assert run.status == "ok", run.reply
        assert "Reconnected to sim" in run.stream()
        assert "after restart" in run.stream()
    finally:
        k.stop()


def test_board_vanishing_mid_cell_and_shutdown_frees_the_port(tmp_path: Path) -> None:
    require_unix_port()
    with VirtualSerialBoardProcess(tmp_path / "ttyK", board_dir=tmp_path / "files") as board:
        k = Kernel()
        try:
            assert k.run(f"%connect {board.url}").status == "ok"
            threading.Timer(0.5, board.unplug).start()
            start = time.monotonic()
            run = k.run("import time\ntime.sleep(30)", timeout=30)
            assert time.monotonic() - start < 10
            assert run.status == "error"
            assert run.reply["ename"] in ("TransportClosedError", "DeviceTimeoutError")
            assert k.run("%%host\n'kernel alive'").status == "ok"
            board.plug()
            assert k.run(f"%connect {board.url}").status == "ok"
        finally:
            k.stop()
        # The kernel is gone: the port is free at once.
        with Device.open(board.url) as device:
            assert device.eval("1") == 1
