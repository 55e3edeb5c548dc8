"""Building the test boards' firmware, cached.

Owns the recipes (`BOARDS`), the cache (`cache_dir()`: `$IOTK_FIRMWARE_CACHE`,
else `~/.cache/iotkernel/firmware`) and the build itself: sources from
Debian (`debian.py`), mpy-cross first, then the board, with progress on
stderr. A built image lives under a key made of the recipe, the source
versions, the build options and the board definition's files: a change to
any of them builds anew, nothing else does. The source versions are resolved
once and recorded (`sources.json`), so a build from the cache asks no
registry. Builds hold a lock, so test processes that need the same image
build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .debian import SUITE, Package, PrivateApt, SourceFetchError

# Bump when the build steps change in a way the key would not see.
BUILDER_VERSION = 1
BOARDS_DIR = Path(__file__).resolve().parent / "boards"
MAKE_TIMEOUT = 1800.0

SOURCES = {
    "micropython": Package("micropython", "1.25.0+ds"),
    # MicroPython 1.25.0 was released against these (its submodules, empty in +ds).
    "pico-sdk": Package("pico-sdk-source", "2.1.1", binary=True, subdir="usr/src/pico-sdk"),
    "tinyusb": Package("tinyusb-source", "0.18.0", binary=True, subdir="usr/src/tinyusb"),
    "mbedtls": Package("mbedtls", "3.6."),
}
# Where the rp2 port looks for each (lib/<folder> of MicroPython's tree).
LIB_FOLDERS = {"pico-sdk": "pico-sdk", "tinyusb": "tinyusb", "mbedtls": "mbedtls"}
# micropython-lib is not in Debian's +ds source: the rp2 frozen manifest keeps
# only what the source has (its own modules and asyncio). The port's own
# manifest file must say so: a FROZEN_MANIFEST given to make is not taken
# for RPI_PICO.
RP2_MANIFEST = 'freeze("$(PORT_DIR)/modules")\ninclude("$(MPY_DIR)/extmod/asyncio")\n'


class FirmwareBuildError(RuntimeError):
    """A firmware image could not be built; the message says what to do."""


@dataclass(frozen=True)
class Recipe:
    """How one board's firmware is made."""

    name: str
    port: str  # the MicroPython port folder: ports/<port>
    board: str  # its BOARD (ours are copied from boards/<board> first)
    artefact: str  # the file of the build folder that is the image
    description: str
    own_board: bool = False
    make_vars: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ("micropython",)
    # Files of MicroPython's tree this recipe writes before building.
    tree_files: dict[str, str] = field(default_factory=dict)
    # A board of the port's own copied under our `board` name, with this
    # text added to its mpconfigboard.h: (the port's board, the text).
    derived_from: tuple[str, str] | None = None
    # (command, the Debian package that brings it)
    toolchain: tuple[tuple[str, str], ...] = (
        ("make", "make"),
        ("gcc", "gcc"),
        ("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi"),
    )


# What a debugger build adds to a board's configuration (the board's own
# mpconfigboard.h: a BOARD_DIR elsewhere is not picked up as given).
SETTRACE_CONFIG = (
    "\n// IoT Kernel: a debugger build (sys.settrace)\n#define MICROPY_PY_SYS_SETTRACE (1)\n"
)

# What every rp2 (Pico) build shares: its sources, tree files and toolchain.
_RP2_COMMON: dict[str, Any] = {
    "make_vars": {"CMAKE_ARGS": "-DPICO_NO_PICOTOOL=1"},
    "sources": ("micropython", "pico-sdk", "tinyusb", "mbedtls"),
    "tree_files": {
        "ports/rp2/boards/manifest.py": RP2_MANIFEST,
        # The build insists on a checked-out micropython-lib; the manifest
        # above requires nothing from it.
        "lib/micropython-lib/README.md": "Empty: not in Debian's +ds source.\n",
    },
    "toolchain": (
        ("make", "make"),
        ("gcc", "gcc"),
        ("g++", "g++"),
        ("cmake", "cmake"),
        (
            "arm-none-eabi-gcc",
            "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib",
        ),
    ),
}

# The qemu port's frozen manifest require()s micropython-lib's unittest,
# which Debian's +ds source does not have: these boards freeze nothing.
_QEMU_COMMON = {"FROZEN_MANIFEST": ""}

BOARDS: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "qemu",
            port="qemu",
            board="IOTK_AN385",
            own_board=True,
            artefact="firmware.elf",
            make_vars={**_QEMU_COMMON, "MICROPY_HEAP_SIZE": "40960"},
            description="Cortex-M3 (QEMU mps2-an385), 40 KB heap, IoT Kernel's board definition",
        ),
        Recipe(
            "qemu-large",
            port="qemu",
            board="IOTK_AN385",
            own_board=True,
            artefact="firmware.elf",
            make_vars={**_QEMU_COMMON, "MICROPY_HEAP_SIZE": "143360"},
            description="the same board with the port's default 140 KB heap",
        ),
        Recipe(
            "pico",
            port="rp2",
            board="RPI_PICO",
            artefact="firmware.bin",
            **_RP2_COMMON,
            description="Raspberry Pi Pico (rp2 port, RPI_PICO) as MicroPython ships it",
        ),
        Recipe(
            "pico-settrace",
            port="rp2",
            board="IOTK_PICO_SETTRACE",
            derived_from=("RPI_PICO", SETTRACE_CONFIG),
            artefact="firmware.bin",
            **_RP2_COMMON,
            description="the same Pico with sys.settrace (MICROPY_PY_SYS_SETTRACE): debugging",
        ),
        Recipe(
            "qemu-stock",
            port="qemu",
            board="MPS2_AN385",
            artefact="firmware.elf",
            make_vars=dict(_QEMU_COMMON),
            description="the qemu port's MPS2_AN385 as shipped (no Ctrl-C while code runs)",
        ),
    )
}


def cache_dir() -> Path:
    configured = os.environ.get("IOTK_FIRMWARE_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iotkernel" / "firmware"


def missing_toolchain(recipe: Recipe) -> list[str]:
    """The Debian packages to install before `recipe` can build (none: [])."""
    packages: list[str] = []
    for command, package in recipe.toolchain:
        if shutil.which(command) is None:
            packages += [p for p in package.split() if p not in packages]
    return packages


# ---------------------------------------------------------------- progress


class Progress:
    """Build progress on stderr: a line per stage, and while make runs a
    count of the files compiled (updated in place on a terminal)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def stage(self, text: str) -> None:
        print(f"firmware: {text}", file=self.stream, flush=True)

    def count(self, label: str, files: int, started: float, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < (0.2 if self.tty else 10.0):
            return
        self._last = now
        line = f"firmware: {label}: {files} files compiled ({now - started:.0f} s)"
        if self.tty:
            end = "\n" if final else ""
            print("\r" + line, end=end, file=self.stream, flush=True)
        elif final or files:
            print(line, file=self.stream, flush=True)


# ---------------------------------------------------------------- the cache


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold the lock of cache folder `root` (one builder or installer at a time)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _recorded_versions(root: Path) -> dict[str, str]:
    try:
        data = json.loads((root / "sources.json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _board_files_digest(recipe: Recipe) -> str:
    digest = hashlib.sha256()
    if recipe.own_board:
        board = BOARDS_DIR / recipe.board
        for path in sorted(board.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(board)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def image_key(recipe: Recipe, versions: dict[str, str]) -> str:
    """What the image depends on, hashed: the recipe, the source versions,
    the build options and the files of our board definition."""
    parts = {
        "builder": BUILDER_VERSION,
        "port": recipe.port,
        "board": recipe.board,
        "make": sorted(recipe.make_vars.items()),
        "tree_files": sorted(recipe.tree_files.items()),
        "sources": {name: versions.get(name, "?") for name in recipe.sources},
        "board_files": _board_files_digest(recipe),
    }
    if recipe.derived_from is not None:
        parts["derived_from"] = list(recipe.derived_from)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _image_path(root: Path, recipe: Recipe, versions: dict[str, str]) -> Path:
    return root / "images" / f"{recipe.name}-{image_key(recipe, versions)}" / recipe.artefact


def firmware_path(
    name: str, *, build_if_missing: bool = True, progress: Progress | None = None
) -> Path:
    """The image of board `name`, built first if the cache lacks it."""
    recipe = _recipe(name)
    root = cache_dir()
    versions = _recorded_versions(root)
    if versions:
        image = _image_path(root, recipe, versions)
        if image.is_file():
            return image
    if not build_if_missing:
        raise FirmwareBuildError(
            f"the {name} firmware is not built yet: python -m fakes.firmware build {name}"
        )
    return build(name, progress=progress)


def _recipe(name: str) -> Recipe:
    try:
        return BOARDS[name]
    except KeyError:
        raise FirmwareBuildError(
            f"no firmware recipe {name!r} (there are: {', '.join(BOARDS)})"
        ) from None


def source_tree(source: str, progress: Progress | None = None) -> Path:
    """The unpacked tree of a source package (`micropython`: its tests/ are
    MicroPython's own test suite), fetched first if the cache lacks it."""
    if source not in SOURCES:
        raise FirmwareBuildError(f"no source {source!r} (there are: {', '.join(SOURCES)})")
    root = cache_dir()
    with locked(root):
        versions = _recorded_versions(root)
        apt = PrivateApt(root / "apt")
        try:
            if source not in versions:
                versions[source] = apt.newest_version(SOURCES[source])
                (root / "sources.json").write_text(json.dumps(versions, indent=1) + "\n")
            return _source_tree(root, apt, source, versions[source], progress or Progress())
        except SourceFetchError as exc:
            raise FirmwareBuildError(str(exc)) from None


# ---------------------------------------------------------------- building


def build(name: str, *, progress: Progress | None = None, refresh: bool = False) -> Path:
    """Build board `name`'s image unless the cache has it; its path.
    `refresh` asks the registry for newer Debian revisions first."""
    recipe = _recipe(name)
    progress = progress or Progress()
    missing = missing_toolchain(recipe)
    if missing:
        raise FirmwareBuildError(
            f"building the {name} firmware needs {', '.join(missing)}: "
            f"apt-get install {' '.join(missing)}"
        )
    root = cache_dir()
    with locked(root):
        versions = _recorded_versions(root)
        apt = PrivateApt(root / "apt")
        try:
            if refresh or any(source not in versions for source in recipe.sources):
                progress.stage("asking Debian's registry for the source versions")
                for source in recipe.sources:
                    versions[source] = apt.newest_version(SOURCES[source])
                (root / "sources.json").write_text(json.dumps(versions, indent=1) + "\n")
            image = _image_path(root, recipe, versions)
            if image.is_file():
                return image
            trees = {
                source: _source_tree(root, apt, source, versions[source], progress)
                for source in recipe.sources
            }
        except SourceFetchError as exc:
            raise FirmwareBuildError(str(exc)) from None
        started = time.monotonic()
        micropython = trees["micropython"]
        _lay_libraries(micropython, trees)
        _build_mpy_cross(micropython, progress)
        _build_board(recipe, micropython, image, progress)
        progress.stage(f"{name} built in {time.monotonic() - started:.0f} s: {image}")
        return image


def _source_tree(
    root: Path, apt: PrivateApt, source: str, version: str, progress: Progress
) -> Path:
    tree = root / "src" / f"{source}-{version}"
    done = tree.with_name(tree.name + ".complete")
    if done.is_file() and tree.is_dir():
        return tree
    progress.stage(f"fetching {source} {version} from Debian's {SUITE}")
    tree.parent.mkdir(parents=True, exist_ok=True)
    apt.fetch(SOURCES[source], version, tree)
    done.write_text(version + "\n")
    return tree


def _build_mpy_cross(micropython: Path, progress: Progress) -> None:
    built = micropython / "mpy-cross" / "build" / "mpy-cross"
    if built.is_file():
        return
    progress.stage("building mpy-cross")
    _make(["make", "-C", str(micropython / "mpy-cross"), f"-j{_jobs()}"], "mpy-cross", progress)


def _lay_libraries(micropython: Path, trees: dict[str, Path]) -> None:
    """Point lib/<folder> of MicroPython's tree at each library's tree."""
    for source, folder in LIB_FOLDERS.items():
        if source not in trees:
            continue
        lib = micropython / "lib" / folder
        if lib.is_symlink() and lib.resolve() == trees[source].resolve():
            continue
        if lib.is_symlink() or lib.is_file():
            lib.unlink()
        elif lib.is_dir():
            shutil.rmtree(lib)  # the empty submodule folder of the +ds source
        lib.symlink_to(trees[source].resolve(), target_is_directory=True)
    # The rp2 Makefile takes lib/pico-sdk/README.md as the sign of a checked
    # out submodule; Debian's pico-sdk-source ships no README.
    if "pico-sdk" in trees and not (trees["pico-sdk"] / "README.md").exists():
        (trees["pico-sdk"] / "README.md").write_text("pico-sdk from Debian's pico-sdk-source\n")


def _make_vars(recipe: Recipe, port: Path) -> dict[str, str]:
    """The recipe's make variables. A CMAKE_ARGS given to make replaces the
    rp2 Makefile's own (make's command line wins over `+=`), and with them
    the board it names: the board goes in ours too."""
    variables = dict(recipe.make_vars)
    if "CMAKE_ARGS" in variables:
        board_dir = (port / "boards" / recipe.board).resolve()
        variables["CMAKE_ARGS"] = (
            f"-DMICROPY_BOARD={recipe.board} -DMICROPY_BOARD_DIR={board_dir} "
            + variables["CMAKE_ARGS"]
        )
    return variables


def _build_board(recipe: Recipe, micropython: Path, image: Path, progress: Progress) -> None:
    port = micropython / "ports" / recipe.port
    for relative, text in recipe.tree_files.items():
        (micropython / relative).write_text(text)
    if recipe.own_board:
        target = port / "boards" / recipe.board
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(BOARDS_DIR / recipe.board, target)
    if recipe.derived_from is not None:
        source_board, extra = recipe.derived_from
        target = port / "boards" / recipe.board
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(port / "boards" / source_board, target)
        with open(target / "mpconfigboard.h", "a") as config:
            config.write(extra)
    options = " ".join(f"{k}={v or '(none)'}" for k, v in recipe.make_vars.items())
    progress.stage(f"building {recipe.name}: ports/{recipe.port} BOARD={recipe.board} {options}")
    image.parent.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{recipe.name}-", dir=image.parent.parent) as tmp:
        build_dir = Path(tmp) / "build"
        argv = [
            "make",
            "-C",
            str(port),
            f"-j{_jobs()}",
            f"BOARD={recipe.board}",
            f"BUILD={build_dir}",
            *(f"{k}={v}" for k, v in _make_vars(recipe, port).items()),
        ]
        _make(argv, recipe.name, progress)
        artefact = build_dir / recipe.artefact
        if not artefact.is_file():
            raise FirmwareBuildError(f"the {recipe.name} build made no {recipe.artefact}")
        staged = Path(tmp) / "image"
        staged.mkdir()
        shutil.copy2(artefact, staged / recipe.artefact)
        elf = build_dir / "firmware.elf"
        if recipe.artefact.endswith(".bin"):
            # A flash image: its ELF (symbols, for debugging) and a UF2 (what
            # a user drags onto the board's drive, what emulators load).
            shutil.copy2(elf, staged / "firmware.elf")
            (staged / "firmware.uf2").write_bytes(bin_to_uf2(artefact.read_bytes()))
        (staged / "build.json").write_text(
            json.dumps({"recipe": recipe.name, "make": argv[3:]}, indent=1) + "\n"
        )
        shutil.rmtree(image.parent, ignore_errors=True)
        staged.rename(image.parent)  # whole, or not at all
    # Images of this board built from older sources or options are stale.
    for old in image.parent.parent.glob(f"{recipe.name}-*"):
        if old != image.parent and old.is_dir() and old.name.rsplit("-", 1)[0] == recipe.name:
            shutil.rmtree(old, ignore_errors=True)


# UF2 as the RP2040's bootrom takes it: 512-byte blocks of 256 bytes of
# flash each, the family id flag set, addresses from the start of flash.
UF2_MAGIC = (0x0A324655, 0x9E5D5157, 0x0AB16F30)
UF2_FLAG_FAMILY = 0x00002000
RP2040_FAMILY = 0xE48BFF56
RP2040_FLASH = 0x10000000


def bin_to_uf2(data: bytes, base: int = RP2040_FLASH, family: int = RP2040_FAMILY) -> bytes:
    """A flash image as UF2 blocks."""
    chunks = [data[i : i + 256] for i in range(0, len(data), 256)]
    blocks = []
    for number, chunk in enumerate(chunks):
        header = struct.pack(
            "<8I",
            UF2_MAGIC[0],
            UF2_MAGIC[1],
            UF2_FLAG_FAMILY,
            base + 256 * number,
            256,
            number,
            len(chunks),
            family,
        )
        payload = chunk.ljust(476, b"\0")
        blocks.append(header + payload + struct.pack("<I", UF2_MAGIC[2]))
    return b"".join(blocks)


def _jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _make(argv: list[str], label: str, progress: Progress) -> None:
    started = time.monotonic()
    log: list[str] = []
    files = 0
    env = {**os.environ, "LC_ALL": "C"}
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            del log[:-200]
            if line.startswith(("CC ", "CXX ")) or ("Building " in line and " object " in line):
                files += 1
                progress.count(label, files, started)
            if time.monotonic() - started > MAKE_TIMEOUT:
                proc.kill()
                raise FirmwareBuildError(f"building {label} took over {MAKE_TIMEOUT:.0f} s")
        code = proc.wait()
    progress.count(label, files, started, final=True)
    if code != 0:
        tail = "".join(log[-25:])
        raise FirmwareBuildError(f"building {label} failed (make exited {code}):\n{tail}")
