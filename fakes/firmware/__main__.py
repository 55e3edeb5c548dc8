"""`python -m fakes.firmware`: build the test boards' firmware, show where it is."""

from __future__ import annotations

import argparse
import sys
import threading

from .build import BOARDS, FirmwareBuildError, build, cache_dir, firmware_path


class EmulatorFetchError(Exception):
    """The Pico's emulator (rp2040js from npm, the bootrom) could not be had."""


class _EmulatorFetch:
    """rp2040js and the RP2040 bootrom into the cache, in a thread of their own."""

    def __init__(self) -> None:
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._fetch, name="emulator-fetch", daemon=True)
        self._thread.start()

    def _fetch(self) -> None:
        from ..pico_board import bootrom_path, rp2040js_dir

        try:
            print(f"firmware: the Pico's emulator: {rp2040js_dir()}", flush=True)
            bootrom_path()
        except Exception as exc:  # reported by wait(), in the main thread
            self._error = exc

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise EmulatorFetchError(str(self._error))


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
            emulator = _EmulatorFetch() if any(n.startswith("pico") for n in names) else None
            for name in names:
                print(build(name, refresh=args.refresh))
            if emulator is not None:
                emulator.wait()
    except (FirmwareBuildError, EmulatorFetchError) as exc:
        print(f"fakes.firmware: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
