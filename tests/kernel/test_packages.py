"""%pip into the libs folder, %mip from a package index served on loopback,
%%service as a configured local shell — and their bad input."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_kernel import Kernel


def short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[str]:
    """A tiny micropython-lib style index: greet depends on greetbase."""
    root = tmp_path / "index"
    packages = {
        "greetbase": {"greetbase.py": b"PREFIX = 'hi'\n"},
        "greet": {"greet.py": b"from greetbase import PREFIX\nMSG = PREFIX + ' there'\n"},
    }
    for name, files in packages.items():
        meta: dict[str, Any] = {"version": "1.0", "hashes": [], "deps": []}
        if name == "greet":
            meta["deps"] = [["greetbase", "latest"]]
        for path, data in files.items():
            digest = short_hash(data)
            meta["hashes"].append([path, digest])
            target = root / "file" / digest[:2] / digest
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        description = root / "package" / "py" / name / "latest.json"
        description.parent.mkdir(parents=True, exist_ok=True)
        description.write_text(json.dumps(meta))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def kernel_env(tmp_path: Path) -> Iterator[Kernel]:
    settings = tmp_path / "iotkernel.yaml"
    settings.write_text("services:\n  local: bash -s\n  cat: cat\n")
    k = Kernel(env={"IOT_SETTINGS": str(settings), "IOT_PROJECTS": str(tmp_path / "projects")})
    try:
        assert k.run(f"%connect fake://pkg-{tmp_path.name}").status == "ok"
        yield k
    finally:
        k.stop()


def test_mip_installs_package_and_dependencies_on_the_board(kernel_env: Kernel, index: str) -> None:
    run = kernel_env.run(f"%mip install greet --index {index}")
    assert run.status == "ok", run.reply
    assert "Installed greetbase" in run.stream() and "Installed greet" in run.stream()
    bars = run.of_type("display_data") + run.of_type("update_display_data")
    final = [d["data"]["text/plain"] for d in bars if "100%" in d["data"]["text/plain"]]
    assert any(text.startswith("mip greet [") and "files" in text for text in final), bars
    value = kernel_env.run("import greet\ngreet.MSG").of_type("execute_result")[0]["data"]
    assert value["text/plain"] == "'hi there'"
    assert kernel_env.run(f"%upip install greetbase --index {index}").status == "ok"


def test_mip_missing_package_and_unreachable_index(kernel_env: Kernel, index: str) -> None:
    run = kernel_env.run(f"%mip install nosuchpkg --index {index}")
    assert run.status == "error" and "no package 'nosuchpkg'" in run.reply["evalue"]
    run = kernel_env.run("%mip install greet --index http://127.0.0.1:9")
    assert run.status == "error" and "cannot reach" in run.reply["evalue"]


def test_pip_installs_into_the_libs_folder(kernel_env: Kernel, tmp_path: Path) -> None:
    wheel = tmp_path / "tinylib-1.0-py3-none-any.whl"
    files = {
        "tinylib.py": b"VALUE = 7\n",
        "tinylib-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinylib\nVersion: 1.0\n",
        "tinylib-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
        record.append("tinylib-1.0.dist-info/RECORD,,")
        archive.writestr("tinylib-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    run = kernel_env.run(f"%pip install --no-index {wheel}", timeout=120)
    assert run.status == "ok", run.stream()
    assert (tmp_path / "projects" / "libs" / "tinylib.py").read_text() == "VALUE = 7\n"
    bad = kernel_env.run("%pip install --no-index nosuch-package-xyz", timeout=120)
    assert bad.status == "error"


def test_service_runs_the_cell_safely_quoted(kernel_env: Kernel) -> None:
    run = kernel_env.run('%%service local\necho "it\'s quoted: $((6 * 7))"\nexit 0')
    assert run.status == "ok", run.reply
    assert run.stream() == "it's quoted: 42\n"
    assert kernel_env.run("%%service cat\nline with ' and \" and $HOME").stream() == (
        "line with ' and \" and $HOME"
    )
    failed = kernel_env.run("%%service local\nexit 4")
    assert failed.status == "error" and "exit status 4" in failed.reply["evalue"]
    unknown = kernel_env.run("%%service nosuch\nls")
    assert unknown.status == "error" and "cat, local" in unknown.reply["evalue"]


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ({"version": "1", "hashes": [["evil.py", ""]]}, "has no valid hash"),
        ({"version": "1", "hashes": [["evil.py", "zz"]]}, "has no valid hash"),
        ({"version": "1", "hashes": [["lib/x.py\x00.evil", "0123abcd"]]}, "refusing the file path"),
        ({"version": "1", "hashes": [["a\\b.py", "0123abcd"]]}, "refusing the file path"),
        ({"version": "1", "hashes": [["x.py.iotk-tmp", "0123abcd"]]}, "refusing the file path"),
        ({"version": "1", "hashes": [[1, 2]]}, "malformed file entry"),
        ([1, 2, 3], "not a package description"),
    ],
    ids=["empty-hash", "bad-hash", "nul", "backslash", "our-temporary", "numbers", "a-list"],
)
def test_a_hostile_index_is_refused_before_anything_is_written(
    kernel_env: Kernel, tmp_path: Path, description: object, message: str
) -> None:
    root = tmp_path / "hostile"
    (root / "package" / "py" / "evil").mkdir(parents=True)
    (root / "package" / "py" / "evil" / "latest.json").write_text(json.dumps(description))
    digest = short_hash(b"anything")
    (root / "file" / digest[:2]).mkdir(parents=True)
    (root / "file" / digest[:2] / digest).write_bytes(b"anything")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        run = kernel_env.run(f"%mip install evil --index {url}")
        assert run.status == "error" and message in run.reply["evalue"], run.reply
        assert "evil" not in kernel_env.run("%rlist -r /lib").stream()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
