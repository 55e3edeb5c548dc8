"""Device configuration files: valid ones load, invalid ones say file, line and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotkernel.config import ConfigError, Resource, load_configuration


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_loads_devices_and_resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOT_PROJECTS", str(tmp_path))
    write(
        tmp_path / "devices",
        "boards.yaml",
        "esp32:\n  uid: 30:AE:A4:30:84:34\n  resources:\n"
        "    - lib\n    - path: apps/x\n      install-dir: /apps\n      exclude: test_*\n"
        "pico:\n  url: serial:///dev/ttyACM0\n",
    )
    config = load_configuration()
    esp = config.devices["esp32"]
    assert esp.uid == "30aea4308434"
    assert esp.resources[0] == Resource(local=tmp_path / "lib")
    assert esp.resources[1].install_dir == "/apps"
    assert esp.resources[1].board_root == "/apps/x"
    assert esp.resources[1].exclude == ("test_*",)
    assert config.by_uid("30aea4308434") is esp
    assert config.devices["pico"].urls == ("serial:///dev/ttyACM0",)
    assert config.for_board("pico", None) is config.devices["pico"]


def test_iot_devices_overrides_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path / "elsewhere"))
    write(tmp_path / "elsewhere", "a.yml", "board: {uid: abcd}\n")
    assert list(load_configuration().devices) == ["board"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a:\n  uid: 12\n  colour: red\n", 3, "unknown key 'colour'"),
        ("a:\n  uid: not-hex!\n", 2, "hexadecimal"),
        ("a:\n  uid: [1, 2]\n", 2, "hexadecimal text"),
        ("a:\n  uid: ''\n", 2, "hexadecimal text"),
        ("a:\n  resources:\n    - path: lib\n      unpak: true\n", 4, "unknown key 'unpak'"),
        ("a:\n  resources: lib\n", 2, "must be a list"),
        ("a:\n  resources:\n    - install-dir: /x\n", 3, "needs 'path'"),
        ("a:\n  resources:\n    - path: lib\n      install-dir: lib\n", 3, "absolute"),
        ("a:\n  resources:\n    - path: lib\n      unpack: maybe\n", 3, "true or false"),
        ("a: [1, 2\n", 2, "expected"),
        ("- just a list\n", 1, "top-level keys"),
        ("a:\n  uid: aa\n  hard-reset: false\n", 3, "hard-reset: expected a command line"),
        ('a:\n  hard-reset: "relay \'on"\n', 2, "hard-reset: No closing quotation"),
        ("a:\n  hard-reset: ''\n", 2, "hard-reset: the command is empty"),
    ],
)
def test_invalid_files_name_file_line_and_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int, message: str
) -> None:
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path))
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_configuration()
    assert f"{path}:{line}" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("written", "uid"),
    [
        ("10:20:30:40:50:59", "102030405059"),  # YAML 1.1: a base-60 integer
        ("0x1234", "1234"),  # YAML: 4660
        ("'00ff'", "00ff"),
        ("123456", "123456"),  # digits only: still the text, not an int
        ("30:AE:A4:30:84:34", "30aea4308434"),
    ],
)
def test_uids_are_read_as_the_text_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, uid: str
) -> None:
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path))
    write(tmp_path, "a.yaml", f"board:\n  uid: {written}\n")
    assert load_configuration().devices["board"].uid == uid


def test_hard_reset_command_is_split_like_a_shell_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path))
    write(
        tmp_path,
        "rig.yaml",
        "esp:\n  uid: aa\n  hard-reset: labgrid-client -p 'esp 1' power cycle\n",
    )
    entry = load_configuration().for_board(None, "aa")
    assert entry is not None
    assert entry.hard_reset == ("labgrid-client", "-p", "esp 1", "power", "cycle")


def test_duplicate_names_and_uids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path))
    write(tmp_path, "a.yaml", "x: {uid: aa}\n")
    write(tmp_path, "b.yaml", "x: {uid: bb}\n")
    with pytest.raises(ConfigError, match="already defined"):
        load_configuration()
    (tmp_path / "b.yaml").write_text("y: {uid: aa}\n")
    with pytest.raises(ConfigError, match="already used"):
        load_configuration()


def test_include_and_exclude_patterns() -> None:
    resource = Resource(Path("/p"), include=("*.py",), exclude=("test_*", "__pycache__"))
    assert resource.selects("main.py")
    assert resource.selects("pkg/mod.py")
    assert not resource.selects("notes.txt")
    assert not resource.selects("test_main.py")
    assert not resource.selects("__pycache__/mod.py")
    assert not resource.selects("pkg/test_x.py")


def test_line_levels_and_compiled_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path))
    write(
        tmp_path,
        "rig.yaml",
        "esp:\n  uid: aa\n  dtr: false\n  rts: false\n"
        "  resources:\n    - path: lib\n      mpy: true\n",
    )
    entry = load_configuration().for_board(None, "aa")
    assert entry is not None and entry.dtr is False and entry.rts is False
    assert entry.resources[0].mpy is True
    assert entry.serial_url("serial:///dev/ttyUSB0") == "serial:///dev/ttyUSB0?dtr=0&rts=0"
    assert entry.serial_url("/dev/ttyUSB0") == "serial:///dev/ttyUSB0?dtr=0&rts=0"
    assert entry.serial_url("serial:///dev/ttyUSB0?baud=9600&rts=1") == (
        "serial:///dev/ttyUSB0?baud=9600&rts=1&dtr=0"  # the URL's own setting wins
    )
    assert entry.serial_url("ws://10.0.0.2:8266") == "ws://10.0.0.2:8266"  # no lines there
    write(tmp_path, "rig.yaml", "esp:\n  uid: aa\n  dtr: 0\n")
    with pytest.raises(ConfigError, match=r"rig\.yaml:3.*dtr must be true or false"):
        load_configuration()
    write(
        tmp_path,
        "rig.yaml",
        "esp:\n  uid: aa\n  resources:\n    - path: lib\n      mpy: yes please\n",
    )
    with pytest.raises(ConfigError, match="mpy must be true or false"):
        load_configuration()
