"""The secrets store: WebREPL passwords kept out of notebooks, URLs and logs.

Owns reading the secrets file (`$IOT_SECRETS`, default
`~/.config/iotkernel/secrets.yaml`), refusing it unless only its owner can
read it, and looking up a WebREPL password by URL (or `host:port`), device
name, or a `default`. Never logs or prints a secret; errors name the file,
never its content.

    webrepl:
      ws://192.168.4.1:8266: micropythoN
      test-esp32: s3cret
      default: changeme
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import IotKernelError
from .yamlfiles import load_yaml_text


class SecretsError(IotKernelError):
    """The secrets file is unsafe or malformed."""


def secrets_path() -> Path:
    env = os.environ.get("IOT_SECRETS")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "iotkernel" / "secrets.yaml"


def load_secrets(path: Path | None = None) -> dict[str, Any]:
    """The parsed secrets file, or {} when there is none."""
    path = path or secrets_path()
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(
            f"refusing the secrets file {path}: other users can read it (run: chmod 600 {path})"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise SecretsError(f"refusing the secrets file {path}: it belongs to another user")
    try:
        data = load_yaml_text(path.read_text()) or {}
    except UnicodeDecodeError:
        raise SecretsError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SecretsError(f"{path}{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise SecretsError(f"{path}: expected a mapping at the top level")
    return data


def webrepl_password(
    url: str, name: str | None = None, path: Path | None = None, *, allow_default: bool = True
) -> str | None:
    """The WebREPL password for `url` (or device `name`), or None.

    `allow_default=False` for a host only an advertisement named: `default`
    is for hosts the user typed, configured or trusted, never any host a
    datagram names."""
    section = load_secrets(path).get("webrepl") or {}
    if not isinstance(section, dict):
        raise SecretsError(f"{path or secrets_path()}: 'webrepl' must be a mapping")
    parts = urlsplit(url)
    host_port = f"{parts.hostname}:{parts.port or 8266}"
    keys = (url, url.rstrip("/"), host_port, name, "default" if allow_default else None)
    for key in keys:
        if key and key in section:
            return str(section[key])
    return None


def without_credentials(url: str) -> str:
    """`url` with any user:password@ part masked, for messages and logs."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return url.split("@")[-1] if "@" in url else url
    if "@" not in netloc:
        return url
    return parts._replace(netloc="***@" + netloc.rpartition("@")[2]).geturl()
