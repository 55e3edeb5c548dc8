"""Jupyter protocol conformance (jupyter_kernel_test) on `sim` and `fake://`."""

from __future__ import annotations

import unittest
from typing import Any

import jupyter_kernel_test

from ..backends import IN_CI, UNIX_AVAILABLE
from .jupyter_env import kernel_manager, prepare

prepare()


class IotKernelConformance(jupyter_kernel_test.KernelTests):  # type: ignore[misc] # untyped
    kernel_name = "iotkernel"
    language_name = "python"
    file_extension = ".py"
    board = "fake://"

    code_hello_world = "print('hello, world')"
    # Board stderr is its tracebacks; plain stderr text comes from host cells.
    code_stderr = "%%host\nimport sys\nprint('oops', file=sys.stderr)"
    completion_samples = [
        {"text": "%lsm", "matches": {"%lsmagic"}},
        {"text": "%%ho", "matches": {"%%host"}},
    ]
    complete_code_samples = ["x = 1", "%connect sim", "for i in range(3):\n    pass\n"]
    incomplete_code_samples = ["for i in range(3):", "def f(x):"]
    invalid_code_samples = ["x = = 1)"]
    code_generate_error = "raise ValueError('boom')"
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "'text'", "result": "'text'"},
        {"code": "[1, 2]", "result": "[1, 2]"},
    ]
    code_display_data = [
        {
            "code": "%%host\nfrom IPython.display import display, HTML\ndisplay(HTML('<b>x</b>'))",
            "mime": "text/html",
        }
    ]
    code_inspect_sample = "%connect"
    code_clear_output = "%%host\nfrom IPython.display import clear_output\nclear_output()"

    @classmethod
    def setUpClass(cls) -> None:
        # As jupyter_kernel_test's own setUpClass, with our IPC sockets.
        cls.km = kernel_manager()
        cls.km.start_kernel()
        cls.kc = cls.km.client()
        cls.kc.start_channels()
        try:
            cls.kc.wait_for_ready(timeout=60)
        except RuntimeError:
            cls.kc.stop_channels()
            cls.km.shutdown_kernel()
            raise
        reply, _ = cls._run(f"%connect {cls.board}")
        assert reply["content"]["status"] == "ok", reply

    @classmethod
    def _run(cls, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        msg_id = cls.kc.execute(code)
        while True:  # skip replies to earlier requests (the client's kernel_info)
            reply = cls.kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        outputs: list[dict[str, Any]] = []
        while True:
            msg = cls.kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return reply, outputs
            outputs.append(msg)


@unittest.skipUnless(UNIX_AVAILABLE or IN_CI, "needs the unix-port MicroPython")
class IotKernelConformanceOnSim(IotKernelConformance):
    board = "sim"
