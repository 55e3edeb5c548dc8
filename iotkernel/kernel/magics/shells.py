"""Shells elsewhere: %%ssh (bash on a host over ssh) and %%service (a command
prefix from the settings, e.g. a container's bash). The cell is the shell's
stdin, so nothing is quoted; output streams live (`host.stream_process`).
"""

from __future__ import annotations

import argparse
import shlex

from ...config import load_settings, settings_path
from ...errors import UsageError
from .host import stream_process
from .registry import KernelServices, argument, cell_magic


@cell_magic(
    "service",
    summary="Send code to bash in named container for execution",
    epilog=(
        "Services are command prefixes in the settings file, the cell is their stdin:\n"
        "  services:\n"
        "    cross: docker exec -i cross-compiler bash\n"
    ),
)
@argument("name", help="a service of the settings file")
def service(kernel: KernelServices, args: argparse.Namespace, body: str) -> None:
    services = load_settings().services
    if args.name not in services:
        known = ", ".join(sorted(services)) or "none configured"
        raise UsageError(
            f"no service {args.name!r} (known: {known}); "
            f"add it under 'services:' in {settings_path()}"
        )
    stream_process(kernel, shlex.split(services[args.name]), stdin=body)


@cell_magic(
    "ssh",
    summary="Pass cell body to ssh.",
    epilog="The cell is bash's stdin on the host: no quoting to get wrong.\n"
    "example:\n  %%ssh pi@rig-host\n  uptime",
)
@argument("destination", help="[user@]host")
@argument("-p", "--port", type=int, help="ssh port")
@argument("-F", "--config", help="ssh configuration file")
def ssh(kernel: KernelServices, args: argparse.Namespace, body: str) -> None:
    """The cell runs in bash on a host over ssh, with the user's keys and config."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    if args.port:
        argv += ["-p", str(args.port)]
    if args.config:
        argv += ["-F", args.config]
    stream_process(kernel, [*argv, "--", args.destination, "bash -s"], stdin=body)


MAGICS = (ssh, service)
