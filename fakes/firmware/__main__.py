"""`python -m fakes.firmware`: build the test boards' firmware, show where it is."""

from __future__ import annotations

import argparse
import sys

from .build import BOARDS, FirmwareBuildError, build, cache_dir, firmware_path


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
            for name in args.names or list(BOARDS):
                print(build(name, refresh=args.refresh))
    except FirmwareBuildError as exc:
        print(f"fakes.firmware: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
