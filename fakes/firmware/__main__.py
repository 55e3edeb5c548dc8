"""`python -m fakes.firmware`: build the test boards' firmware, show where it is."""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

from ..pico_board import PicoBoardError, bootrom_path, rp2040js_dir
from .build import BOARDS, FirmwareBuildError, build, cache_dir, firmware_path


def _fetch_emulator() -> None:
    """rp2040js (npm) and the RP2040 bootrom into the cache."""
    print(f"firmware: the Pico's emulator: {rp2040js_dir()}", flush=True)
    bootrom_path()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.firmware",
        description="Build the test boards' MicroPython firmware from Debian's packages.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build boards (all by default); cached")
    build_cmd.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BOARDS))
    build_cmd.add_argument(
        "--refresh", action="store_true", help="ask the registry for newer Debian revisions"
    )
    path_cmd = sub.add_parser("path", help="print a board's image, building it if missing")
    path_cmd.add_argument("name", metavar="NAME", help=", ".join(BOARDS))
    sub.add_parser("list", help="the boards and the cache folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name, recipe in BOARDS.items():
                print(f"{name:12} {recipe.description}")
            print(f"cache: {cache_dir()}")
        elif args.command == "path":
            print(firmware_path(args.name))
        else:
            names = args.names or list(BOARDS)
            # The Pico's emulator comes from npm: fetched while the firmware
            # compiles (the network beside the CPU), not by the first test.
            with ThreadPoolExecutor(max_workers=1) as pool:
                picos = any(name.startswith("pico") for name in names)
                emulator = pool.submit(_fetch_emulator) if picos else None
                for name in names:
                    print(build(name, refresh=args.refresh))
                if emulator is not None:
                    emulator.result()  # its error, if any, raised here
    except (FirmwareBuildError, PicoBoardError) as exc:
        print(f"fakes.firmware: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
