"""Sources from Debian's package registry, through a private apt list.

Owns fetching a source package (`apt-get source --download-only`) or a binary
package (`apt-get download`) of Debian's trixie suite on any Debian machine,
without touching the machine's own apt sources, lists or caches: apt reads a
sources file, lists and a cache of our own under the firmware cache. The
version asked for is a prefix (`1.25.0+ds`): the newest Debian revision of it
is taken, so a rebuilt package (`-2`) does not break the build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

SUITE = "trixie"
APT_TIMEOUT = 600.0
ARCHIVE_VARIABLE = "IOTK_DEBIAN_ARCHIVE"
APT_SOURCES = Path("/etc/apt")


class SourceFetchError(RuntimeError):
    """A source package could not be had from Debian's registry."""


@dataclass(frozen=True)
class Package:
    """One package of Debian's: a source package, or a binary `-source`
    package whose files under `subdir` are the tree."""

    name: str
    version_prefix: str
    binary: bool = False
    subdir: str = ""


def machine_archive(apt_dir: Path = APT_SOURCES) -> tuple[str, str | None]:
    """The Debian archive this machine's apt uses (its URI, and the keyring
    its entry names, if any): the entry whose URI path ends in /debian."""
    configured = os.environ.get(ARCHIVE_VARIABLE)
    if configured:
        return configured, None
    entries: list[tuple[str, str | None]] = []
    for path in sorted(apt_dir.glob("sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", _read(path)):
            fields = dict(
                (m.group(1).lower(), m.group(2).strip())
                for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M)
            )
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                entries.append((uri, fields.get("signed-by")))
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]:
        for line in _read(path).splitlines():
            m = re.match(r"^\s*deb(?:-src)?\s+(?:\[([^]]*)\]\s+)?(\S+)", line)
            if m:
                signed_by = re.search(r"signed-by=(\S+)", m.group(1) or "")
                entries.append((m.group(2), signed_by.group(1) if signed_by else None))
    for uri, keyring in entries:
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/"), keyring if keyring and Path(keyring).is_file() else None
    raise SourceFetchError(
        "this machine's apt sources name no Debian archive (a URI ending in /debian): "
        f"set {ARCHIVE_VARIABLE} to one"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class PrivateApt:
    """apt-get with its sources, lists and caches under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._updated = False

    def _options(self) -> list[str]:
        return [
            "-o",
            f"Dir::Etc::sourcelist={self.root / 'sources.list'}",
            "-o",
            "Dir::Etc::sourceparts=-",
            "-o",
            f"Dir::State::Lists={self.root / 'lists'}",
            "-o",
            f"Dir::Cache={self.root / 'cache'}",
            "-o",
            "APT::Get::List-Cleanup=0",
            # The files land in our own folders, which apt's sandbox user
            # may not be able to write.
            "-o",
            "APT::Sandbox::User=root",
            "-q",
        ]

    def run(self, args: list[str], cwd: Path | None = None) -> str:
        if shutil.which("apt-get") is None:
            raise SourceFetchError(
                "apt-get is not installed: the firmware is built from Debian's packages, "
                "on a Debian machine"
            )
        try:
            done = subprocess.run(
                ["apt-get", *self._options(), *args],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise SourceFetchError(
                f"apt-get {args[0]} took over {APT_TIMEOUT:.0f} s: is Debian's package "
                "registry reachable from here?"
            ) from None
        if done.returncode != 0:
            raise SourceFetchError(
                f"apt-get {' '.join(args)} failed: {(done.stderr or done.stdout).strip()[-600:]}"
            )
        return done.stdout

    def update(self) -> None:
        if self._updated:
            return
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        archive, keyring = machine_archive()
        options = f"[signed-by={keyring}] " if keyring else ""
        (self.root / "sources.list").write_text(
            f"deb {options}{archive} {SUITE} main\ndeb-src {options}{archive} {SUITE} main\n"
        )
        out = self.run(["update"])
        # apt-get update exits 0 even when no index could be fetched.
        if "Err:" in out or not any((self.root / "lists").glob("*Sources*")):
            raise SourceFetchError(
                f"cannot reach Debian's package registry ({archive}, {SUITE}): "
                + out.strip()[-400:]
            )
        self._updated = True

    def newest_version(self, package: Package) -> str:
        """The newest version of `package` starting with its prefix."""
        self.update()
        query = ["showsrc", package.name] if not package.binary else ["policy", package.name]
        done = subprocess.run(
            ["apt-cache", *self._options(), *query],
            capture_output=True,
            text=True,
            timeout=APT_TIMEOUT,
        )
        versions = []
        for line in done.stdout.splitlines():
            words = line.replace("***", " ").split()
            if package.binary:
                # policy lists "  VERSION PRIORITY" lines, and the candidate.
                candidates = [w for w in words if w.startswith(package.version_prefix)]
            else:
                candidates = words[1:2] if words[:1] == ["Version:"] else []
            versions += [v for v in candidates if v.startswith(package.version_prefix)]
        if not versions:
            raise SourceFetchError(
                f"Debian's {SUITE} has no {package.name} {package.version_prefix}*"
            )
        return sorted(set(versions), key=_debian_sort_key)[-1]

    def fetch(self, package: Package, version: str, into: Path) -> Path:
        """Download and unpack `package` at `version`; the tree's root."""
        download = into.parent / (into.name + ".download")
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir(parents=True)
        if package.binary:
            self.run(["download", f"{package.name}={version}"], cwd=download)
            debs = list(download.glob("*.deb"))
            if len(debs) != 1:
                raise SourceFetchError(f"apt-get download {package.name} gave {debs}")
            unpacked = download / "unpacked"
            _run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)])
            tree = unpacked / package.subdir
        else:
            self.run(["source", "--download-only", f"{package.name}={version}"], cwd=download)
            origs = list(download.glob("*.orig.tar.*"))
            if len(origs) != 1:
                raise SourceFetchError(f"apt-get source {package.name} gave {origs}")
            # The upstream tree as released (Debian's patches are for its own
            # packaging of the unix port).
            unpacked = download / "unpacked"
            unpacked.mkdir()
            with tarfile.open(origs[0]) as archive:
                archive.extractall(unpacked, filter="data")
            roots = [p for p in unpacked.iterdir() if p.is_dir()]
            if len(roots) != 1:
                raise SourceFetchError(f"{origs[0].name} holds {len(roots)} folders, not one")
            tree = roots[0]
        if not tree.is_dir():
            raise SourceFetchError(f"{package.name} {version} has no {package.subdir or 'tree'}")
        shutil.rmtree(into, ignore_errors=True)
        tree.rename(into)
        shutil.rmtree(download, ignore_errors=True)
        return into


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=APT_TIMEOUT)
    if done.returncode != 0:
        raise SourceFetchError(f"{' '.join(argv)} failed: {done.stderr.strip()[-400:]}")


def _debian_sort_key(version: str) -> list[tuple[int, object]]:
    """A rough Debian version order, good enough to pick the newest revision
    of one upstream version (`1.25.0+ds-1` < `1.25.0+ds-2`)."""
    key: list[tuple[int, object]] = []
    for part in version.replace("-", ".").replace("+", ".").replace("~", ".").split("."):
        key.append((1, int(part)) if part.isdigit() else (0, part))
    return key
