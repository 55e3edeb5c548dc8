"""The `iotk` command: run code on a board from a shell, and the guided tour.

Owns argument parsing and printing for the command line; the work is done by
`Device` (and, for the tour, by the notebook machinery of the kernel).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .device import Device
from .errors import DeviceException, IotKernelError
from .protocol import Stream


def _print_output(data: bytes, stream: Stream) -> None:
    target = sys.stdout if stream is Stream.STDOUT else sys.stderr
    target.buffer.write(data)
    target.flush()


def cmd_exec(args: argparse.Namespace) -> int:
    with Device.open(args.url) as device:
        try:
            device.exec(args.code, _print_output, timeout=args.timeout)
        except DeviceException:
            return 1  # the traceback was already printed on stderr
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with Device.open(args.url) as device:
        ident = device.identity()
        for field in ("uid", "platform", "implementation", "version", "machine"):
            print(f"{field:15} {getattr(ident, field)}")
    return 0


def cmd_tour(args: argparse.Namespace) -> int:
    """Run a notebook (the tour by default) with nbclient, printing each cell's output."""
    import nbclient
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import AsyncKernelManager

    from .kernel.local_transport import kernel_manager_options

    path = Path(args.notebook)
    if not path.exists():
        print(f"iotk: no notebook at {path} (run from the project's folder)", file=sys.stderr)
        return 2
    try:
        KernelSpecManager().get_kernel_spec("iotkernel")
    except NoSuchKernel:
        print(
            "iotk: Jupyter does not know the iotkernel kernel here (an editable install "
            "has no kernelspec): run `python -m iotkernel.install --sys-prefix`",
            file=sys.stderr,
        )
        return 2
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="iotk-tour-") as sockets:
        manager = AsyncKernelManager(kernel_name="iotkernel", **kernel_manager_options(sockets))
        client = nbclient.NotebookClient(
            notebook, km=manager, timeout=args.timeout, allow_errors=False
        )
        try:
            client.execute(cwd=str(path.parent))
        finally:
            if args.output:
                nbformat.write(notebook, args.output)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        print(">>> " + cell.source.replace("\n", "\n... "))
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                print(output.text, end="")
            elif output.output_type in ("execute_result", "display_data"):
                print(output.data.get("text/plain", ""))
            elif output.output_type == "error":
                print("\n".join(output.traceback))
        print()
    print(f"The tour ran clean: {sum(c.cell_type == 'code' for c in notebook.cells)} cells.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="iotk", description="IoT Kernel command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p_exec = sub.add_parser("exec", help="run code on a board, streaming its output")
    p_exec.add_argument("url", help="device URL, e.g. unix://, serial:///dev/ttyACM0, ws://host")
    p_exec.add_argument("code", help="MicroPython source to run")
    p_exec.add_argument("--timeout", type=float, default=None, help="stop the code after SECONDS")
    p_exec.set_defaults(func=cmd_exec)
    p_info = sub.add_parser("info", help="print a board's identity")
    p_info.add_argument("url")
    p_info.set_defaults(func=cmd_info)
    p_tour = sub.add_parser("tour", help="run the tour notebook on the built-in virtual board")
    p_tour.add_argument("notebook", nargs="?", default="examples/tour.ipynb")
    p_tour.add_argument("--output", help="save the executed notebook here")
    p_tour.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    p_tour.set_defaults(func=cmd_tour)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except IotKernelError as exc:
        print(f"iotk: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
