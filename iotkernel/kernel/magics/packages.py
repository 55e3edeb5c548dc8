"""Package magics: %pip (host `libs` folder), %mip and %upip (onto the board).

%mip resolves packages in a micropython-lib style index (JSON package
descriptions, files addressed by their SHA-256 prefix) on the host, checks
each file's hash, and writes it to the board through the verified file
service, dependencies first: boards need no network of their own.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import posixpath
import re
import sys
import urllib.error
import urllib.request

from ...config import Settings, load_settings, projects_dir
from ...errors import IotKernelError, UsageError
from ...files import FileService, UnsafePathError, check_writable_path
from .files import ProgressBar
from .host import stream_process
from .registry import KernelServices, argument, line_magic

DEFAULT_INDEX = Settings().mip_index


class PackageError(IotKernelError):
    """A package could not be found, downloaded or installed."""


def libs_dir() -> str:
    return str(projects_dir() / "libs")


# ---------------------------------------------------------------------- %pip


@line_magic(
    "pip",
    summary="Install packages from PyPi",
    epilog="Installs into $IOT_PROJECTS/libs, which a resource can %rsync to boards.",
)
@argument("command", choices=["install"], help="install")
@argument("packages", nargs=argparse.REMAINDER, help="packages and pip options")
def pip(kernel: KernelServices, args: argparse.Namespace) -> None:
    if args.command != "install" or not args.packages:
        raise UsageError("usage: %pip install PACKAGE… (see %pip -h)")
    target = libs_dir()
    os.makedirs(target, exist_ok=True)
    kernel.print(f"Installing into {target}\n")
    stream_process(
        kernel,
        [sys.executable, "-m", "pip", "install", "--target", target, "--upgrade", *args.packages],
    )


# ---------------------------------------------------------------------- %mip


# An index file or package file larger than this is refused (micropython-lib's
# largest are a few tens of KB; nothing must fill the host's memory).
MAX_FETCH = 8 * 1024 * 1024


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            data = bytes(response.read(MAX_FETCH + 1))
            announced = response.headers.get("Content-Length", "")
            # read(n) returns what came before the server closed: a reply cut
            # short is told only by its announced length.
            if announced.isdigit() and len(data) < int(announced) <= MAX_FETCH:
                raise http.client.IncompleteRead(data, int(announced) - len(data))
    except urllib.error.HTTPError as exc:
        raise PackageError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PackageError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    except http.client.HTTPException as exc:  # a reply cut short, a malformed status line
        raise PackageError(f"{url}: a broken HTTP reply ({type(exc).__name__})") from None
    except ValueError as exc:  # not an http(s) URL at all
        raise PackageError(f"{url}: not a URL the index can be fetched from ({exc})") from None
    if len(data) > MAX_FETCH:
        raise PackageError(f"{url}: larger than {MAX_FETCH // (1024 * 1024)} MB: refused")
    return data


_SHORT_HASH = re.compile(r"[0-9a-f]{8,64}")


def _checked_hashes(name: str, meta: object) -> list[tuple[str, str]]:
    """The (path, hash) pairs of a package description from an index, each
    checked: a relative path with no `..`, NUL, backslash or our temporaries'
    suffix, and a hash of 8 to 64 hex digits (an empty one would match any
    content)."""
    if not isinstance(meta, dict) or not isinstance(meta.get("hashes", []), list):
        raise PackageError(f"{name}: the index's description is not a package description")
    pairs = []
    for entry in meta.get("hashes", []):
        if not (
            isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, str) for x in entry)
        ):
            raise PackageError(f"{name}: malformed file entry {entry!r:.80} in the index")
        path, short_hash = entry
        try:
            if path.startswith("/"):
                raise UnsafePathError("absolute")
            check_writable_path("/" + path)
        except UnsafePathError:
            raise PackageError(f"{name}: refusing the file path {path!r:.80}") from None
        if not _SHORT_HASH.fullmatch(short_hash):
            raise PackageError(f"{name}: {path} has no valid hash ({short_hash!r:.80})")
        pairs.append((path, short_hash))
    return pairs


def mip_install(
    kernel: KernelServices,
    files: FileService,
    name: str,
    version: str,
    index: str,
    target: str,
    done: set[str],
) -> None:
    if name in done:
        return
    done.add(name)
    try:
        meta = json.loads(_fetch(f"{index}/package/py/{name}/{version}.json"))
    except PackageError as exc:
        if "HTTP 404" in str(exc):
            raise PackageError(f"no package {name!r} (version {version}) in {index}") from None
        raise
    except ValueError:
        raise PackageError(f"the index's description of {name!r} is not JSON") from None
    hashes = _checked_hashes(name, meta)  # before anything is fetched or written
    deps = meta.get("deps", [])
    if not isinstance(deps, list) or not all(
        isinstance(d, list) and len(d) == 2 and all(isinstance(x, str) for x in d) for d in deps
    ):
        raise PackageError(f"{name}: malformed dependencies in the index ({deps!r:.80})")
    for dep, dep_version in deps:
        mip_install(kernel, files, dep, dep_version, index, target, done)
    progress = ProgressBar(kernel, f"mip {name}", unit="files")
    with files.batch():
        for number, (path, short_hash) in enumerate(hashes):
            progress(number, len(hashes))
            data = _fetch(f"{index}/file/{short_hash[:2]}/{short_hash}")
            if not hashlib.sha256(data).hexdigest().startswith(short_hash):
                raise PackageError(f"{name}: {path} does not match its hash {short_hash}")
            remote = posixpath.join(target, str(path))
            files.mkdirs(posixpath.dirname(remote))
            files.write(remote, data)
            kernel.print(f"  {remote} ({len(data)} bytes)\n")
    progress(len(hashes), len(hashes))
    kernel.print(f"Installed {name} {meta.get('version', version)}\n")


@line_magic(
    "mip",
    "upip",
    summary="Install MicroPython packages",
    epilog="Downloads on the host, installs on the board: the board needs no network.",
)
@argument("command", choices=["install"], help="install")
@argument("packages", nargs="+", help="names, optionally NAME@VERSION")
@argument("--index", help=f"package index URL (default: settings' mip-index, else {DEFAULT_INDEX})")
@argument("--target", default="/lib", help="board directory (default /lib)")
def mip(kernel: KernelServices, args: argparse.Namespace) -> None:
    if args.command != "install" or not args.packages:
        raise UsageError("usage: %mip install PACKAGE[@VERSION]… (see %mip -h)")
    files = kernel.require_files()
    index = (args.index or load_settings().mip_index).rstrip("/")
    done: set[str] = set()
    for spec in args.packages:
        name, _, version = spec.partition("@")
        mip_install(kernel, files, name, version or "latest", index, args.target, done)


# ---------------------------------------------------------------------- %%service


MAGICS = (pip, mip)
