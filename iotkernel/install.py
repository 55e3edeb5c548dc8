"""`python -m iotkernel.install [--user|--sys-prefix|--prefix P]`: install the kernelspec.

`pip install` already puts the kernelspec in the environment (it ships in the
wheel); this command installs it elsewhere, e.g. for a Jupyter outside the
environment. Uses jupyter_client's KernelSpecManager.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

KERNEL_NAME = "iotkernel"
RESOURCES = ("kernel.json", "logo-32x32.png", "logo-64x64.png", "logo-svg.svg")


def install(user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec; returns where it went."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        source = resources.files("iotkernel.kernel").joinpath("resources")
        for name in RESOURCES:
            target = Path(tmp) / name
            with resources.as_file(source.joinpath(name)) as path:
                shutil.copyfile(path, target)
        spec = json.loads((Path(tmp) / "kernel.json").read_text())
        spec["argv"][0] = sys.executable  # this interpreter, wherever Jupyter runs from
        (Path(tmp) / "kernel.json").write_text(json.dumps(spec, indent=2))
        return str(
            KernelSpecManager().install_kernel_spec(tmp, KERNEL_NAME, user=user, prefix=prefix)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iotkernel.install", description="Install the IoT Kernel kernelspec."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for this user (~/.local/share/jupyter)")
    where.add_argument("--sys-prefix", action="store_true", help="in this Python environment")
    where.add_argument("--prefix", help="under PREFIX/share/jupyter")
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    path = install(user=args.user, prefix=prefix)
    print(f"Installed the IoT Kernel kernelspec in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
