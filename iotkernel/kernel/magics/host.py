"""Host-side magics: %store, %%bash and !, %cd, %loglevel.

%store keeps values in a JSON file (never pickle or eval of board data); the
stored values are also variables of the host IPython, loaded again when a
kernel starts. Shell commands stream their output line by line, run in the
kernel's working directory, report a non-zero exit status, and stop on
interrupt.
"""

from __future__ import annotations

import argparse
import base64
import codecs
import contextlib
import json
import logging
import os
import re
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ...device import Device
from ...errors import DeviceException, IotKernelError, UsageError
from ...replies import MAX_DEPTH, too_deep
from ...util import atomic_write, sigint_handler
from ..session import data_dir
from .files import host_path
from .registry import KernelServices, argument, cell_magic, line_magic

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BYTES_TAG = "__iotk_bytes__"


class ShellError(IotKernelError):
    """A shell command failed (non-zero exit status)."""


class StoreError(IotKernelError):
    """The store file is damaged: nothing is read from it or written over it
    until it is fixed or removed."""


# ---------------------------------------------------------------------- %store


def store_path() -> Path:
    return data_dir() / "store.json"


def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES_TAG: base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_BYTES_TAG}:
            encoded = value[_BYTES_TAG]
            if not isinstance(encoded, str):
                raise ValueError(f"{_BYTES_TAG} must hold base64 text")
            return base64.b64decode(encoded, validate=True)  # binascii.Error: a ValueError
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def load_store() -> dict[str, Any]:
    """The stored values (none when there is no store yet).

    A damaged file is a StoreError naming it: %store then refuses to write
    over it, so what it still holds is not lost."""
    path = store_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read the store {path}: {exc}") from None
    try:
        data = json.loads(text)
        if too_deep(data):
            raise ValueError(f"values nested over {MAX_DEPTH} deep")
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of names and values")
        return {str(k): _decode(v) for k, v in data.items()}
    except (ValueError, RecursionError) as exc:
        raise StoreError(
            f"the store {path} is damaged ({exc}); fix or remove it (%store leaves it alone)"
        ) from None


def _save_store(values: dict[str, Any]) -> None:
    atomic_write(store_path(), json.dumps({k: _encode(v) for k, v in values.items()}, indent=1))


def _names(args: argparse.Namespace) -> list[str]:
    for name in args.names:
        if not _IDENTIFIER.match(name):
            raise UsageError(f"{name!r} is not a variable name")
    return list(args.names)


def _restore(device: Device, name: str, value: Any) -> None:
    """`name = value` on the board, for JSON-shaped stored data only."""
    try:
        device.helpers.assign(name, value)
    except TypeError as exc:
        raise UsageError(f"a stored {exc}") from None


@line_magic(
    "store",
    summary="Copy variables between microcontroller and storage",
    epilog=(
        "Values cross as JSON (numbers, strings, lists, dicts, bytes).\n"
        "examples:\n"
        "  %store readings          board -> store (and %%host cells)\n"
        "  %store -r readings       store -> board\n"
        "  %store                   list the store\n"
    ),
)
@argument("names", nargs="*", help="board variables")
@argument("-r", "--restore", action="store_true", help="copy stored values to the board")
@argument("-d", "--delete", action="store_true", help="delete from the store")
@argument("-z", "--zap", action="store_true", help="clear the store")
def store(kernel: KernelServices, args: argparse.Namespace) -> None:
    names = _names(args)
    if args.zap:  # works on a damaged store too: the way to start afresh
        _save_store({})
        kernel.print("Cleared the store\n")
        return
    values = load_store()
    if args.delete:
        missing = [n for n in names if n not in values]
        if missing:
            raise UsageError(f"not in the store: {', '.join(missing)}")
        for name in names:
            del values[name]
        _save_store(values)
        return
    if args.restore:
        device = kernel.require_device()
        for name in names or sorted(values):
            if name not in values:
                raise UsageError(f"{name!r} is not in the store (%store lists it)")
            _restore(device, name, values[name])
            kernel.print(f"Restored {name} on the board\n")
        return
    if not names:
        if not values:
            kernel.print("The store is empty\n")
        for name, value in sorted(values.items()):
            text = repr(value)
            kernel.print(f"{name:16} {text[:60] + '…' if len(text) > 60 else text}\n")
        return
    device = kernel.require_device()
    for name in names:
        try:
            value = device.eval(name)
        except DeviceException as exc:  # no such variable, a value JSON cannot carry
            raise UsageError(f"cannot store {name}: {exc}") from None
        values[name] = value
        kernel.host_shell().user_ns[name] = value  # a %%host cell sees it at once
        kernel.print(f"Stored {name} ({type(value).__name__})\n")
    _save_store(values)


# ---------------------------------------------------------------------- shell


def run_shell(kernel: KernelServices, command: str) -> None:
    """Run `command` with bash in the kernel's working directory."""
    stream_process(kernel, ["bash", "-c", command])


def stream_process(kernel: KernelServices, argv: list[str], stdin: str | None = None) -> None:
    """Run a host command, streaming its output line by line; `stdin` (if any)
    is its input, never part of a command line (no quoting to get wrong).
    Interrupt stops it; a non-zero exit status raises ShellError."""
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            cwd=os.getcwd(),
            start_new_session=True,  # its own process group: interrupt stops all of it
        )
    except OSError as exc:
        raise ShellError(f"cannot run {argv[0]}: {exc.strerror}") from None
    assert process.stdout is not None
    if stdin is not None:
        pipe = process.stdin
        assert pipe is not None

        def feed() -> None:
            with contextlib.suppress(OSError):
                pipe.write(stdin.encode())
                pipe.close()

        threading.Thread(target=feed, daemon=True).start()

    def stop() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)

    interrupted = False
    try:
        with sigint_handler(stop):
            _stream_output(kernel, process)
            status = process.wait()
    finally:
        process.stdout.close()
    if status < 0 and -status == signal.SIGINT:
        interrupted = True
    if interrupted or status == 130:
        raise KeyboardInterrupt
    if status != 0:
        raise ShellError(f"exit status {status}")


# After the command itself has exited, output still coming is read for this
# long at most: a background job (`!sleep 40 &`) holds the pipe open, and the
# cell must not wait for it.
_AFTER_EXIT = 0.2


def _stream_output(kernel: KernelServices, process: subprocess.Popen[bytes]) -> None:
    """Show the command's output as it comes, until the pipe closes or the
    command has exited and the pipe stayed quiet (or busy) for _AFTER_EXIT."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    exited_at: float | None = None
    while True:
        if exited_at is None and process.poll() is not None:
            exited_at = time.monotonic()
        wait = 0.1 if exited_at is None else exited_at + _AFTER_EXIT - time.monotonic()
        if wait <= 0:
            break
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            continue
        data = os.read(fd, 65536)
        if not data:
            break
        kernel.print(decoder.decode(data))
    kernel.print(decoder.decode(b"", final=True))


@cell_magic("bash", summary="Pass cell to bash shell for evaluation")
def bash(kernel: KernelServices, args: argparse.Namespace, body: str) -> None:
    run_shell(kernel, body)


@line_magic("cd", summary="Change current working directory on host")
@argument("path", nargs="?", help="directory (default: home)")
def cd(kernel: KernelServices, args: argparse.Namespace) -> None:
    target = host_path(args.path) if args.path else Path.home()
    try:
        os.chdir(target)
    except OSError as exc:
        raise UsageError(f"cannot change to {target}: {exc.strerror}") from None
    kernel.print(os.getcwd() + "\n")


# ---------------------------------------------------------------------- %loglevel


@line_magic(
    "loglevel",
    summary="Set logging level.",
    epilog="examples:\n  %loglevel DEBUG\n  %loglevel iotkernel.wire DEBUG\n",
)
@argument("logger", nargs="?", help="logger name (default: iotkernel)")
@argument("level", nargs="?", help="DEBUG, INFO, WARNING or ERROR")
def loglevel(kernel: KernelServices, args: argparse.Namespace) -> None:
    if args.logger and args.level is None and args.logger.upper() in logging._nameToLevel:
        args.logger, args.level = "iotkernel", args.logger
    name = args.logger or "iotkernel"
    if args.level is not None:
        level = logging._nameToLevel.get(args.level.upper())
        if level is None:
            raise UsageError(f"unknown level {args.level!r}: DEBUG, INFO, WARNING, ERROR")
        logging.getLogger(name).setLevel(level)
        if not logging.getLogger().handlers:
            logging.basicConfig()
    loggers = sorted(
        n for n in logging.root.manager.loggerDict if n == "iotkernel" or n.startswith("iotkernel.")
    )
    for logger_name in loggers:
        level_name = logging.getLevelName(logging.getLogger(logger_name).getEffectiveLevel())
        kernel.print(f"{logger_name:28} {level_name}\n")


MAGICS = (store, bash, cd, loglevel)
