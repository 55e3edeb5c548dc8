"""Broken settings, devices, secrets and store files: the kernel starts, says
which file and line, and works without that feature; the readers only ever
raise their own typed error, whatever the bytes (hypothesis)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotkernel.config import ConfigError, load_configuration, load_settings
from iotkernel.discovery import parse_advert
from iotkernel.kernel.magics.host import StoreError, load_store
from iotkernel.secrets import SecretsError, load_secrets

from ..kernel.test_kernel import Kernel

# 9 levels of 9 aliases: 343 bytes that expand to tens of MB once walked.
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)

BROKEN_SETTINGS = {
    "port-not-a-number": ("advert-port: 50000\nadvert-port: abc\n", 2, "UDP port"),
    "port-out-of-range": ("advert-port: 99999\n", 1, "UDP port"),
    "vendor-ids-a-list": ("usb-vendor-ids: [1, 2]\n", 1, "vendor ids"),
    "alias-bomb": (ALIAS_BOMB, 5, "more than 32 aliases"),
    "python-tag": ("advert-port: !!python/object/apply:os.system [echo hi]\n", 1, "constructor"),
    "not-yaml": ("advert-port: [\n", 2, ""),
}


@pytest.mark.parametrize("case", list(BROKEN_SETTINGS))
def test_a_broken_settings_file_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, expected = BROKEN_SETTINGS[case]
    path = tmp_path / "iotkernel.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert f"{path}:{line}:" in str(raised.value) and expected in str(raised.value)


def test_an_alias_bomb_in_a_devices_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB)
    with pytest.raises(ConfigError, match="aliases"):
        load_configuration(tmp_path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"x": {"__iotk_bytes__": 5}}', "base64"),
        ("[" * 100_000 + "]" * 100_000, "nested|recursion|depth"),
        ('{"x": ' + "[" * 150 + "]" * 150 + "}", "nested"),
        ("[1, 2, 3]", "JSON object"),
        ('{"x": 1', "damaged"),
    ],
    ids=["bytes-tag-holding-a-number", "100000-deep", "150-deep", "a-list", "cut-short"],
)
def test_a_damaged_store_is_one_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, problem: str
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    store = tmp_path / "iotkernel" / "store.json"
    store.parent.mkdir()
    store.write_text(content)
    with pytest.raises(StoreError, match=problem) as raised:
        load_store()
    assert str(store) in str(raised.value)


def test_the_kernel_starts_with_broken_files_and_says_so(tmp_path: Path) -> None:
    settings_file = tmp_path / "iotkernel.yaml"
    settings_file.write_text("advert-port: abc\n")
    store = tmp_path / "xdg" / "iotkernel" / "store.json"
    store.parent.mkdir(parents=True)
    damaged = '{"kept": 1, "x": {"__iotk_bytes__": 5}}'
    store.write_text(damaged)
    k = Kernel(env={"IOT_SETTINGS": str(settings_file), "XDG_DATA_HOME": str(tmp_path / "xdg")})
    try:
        first = k.run("%lsmagic")
        assert first.status == "ok"
        said = first.stream("stderr")
        assert f"{settings_file}:1: advert-port" in said, said
        assert f"the store {store} is damaged" in said, said
        assert "started with a problem" not in k.run("%lsmagic").stream("stderr")  # once
        listing = k.run("%store")
        assert listing.reply["ename"] == "StoreError"
        assert store.read_text() == damaged  # nothing written over what it still holds
        discover = k.run("%discover", timeout=30)
        assert discover.reply["ename"] == "ConfigError"
        assert f"{settings_file}:1" in discover.reply["evalue"]
        assert k.run("%store -z").status == "ok"  # the way to start afresh
        assert json.loads(store.read_text()) == {}
    finally:
        k.stop()


_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


READERS = {"settings": (load_settings, ConfigError), "secrets": (load_secrets, SecretsError)}


@_FUZZ
@given(
    st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
    st.sampled_from(sorted(READERS)),
)
def test_any_bytes_give_a_file_s_values_or_its_typed_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, which: str
) -> None:
    read, error = READERS[which]
    path = tmp_path_factory.mktemp("fuzz") / f"{which}.yaml"
    path.write_bytes(data)
    os.chmod(path, 0o600)  # the secrets file must be private
    with contextlib.suppress(error):
        read(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@_FUZZ
@given(json_values.map(json.dumps) | st.text(max_size=200))
def test_any_store_text_gives_values_or_a_store_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    home = tmp_path_factory.mktemp("store")
    (home / "iotkernel").mkdir()
    (home / "iotkernel" / "store.json").write_text(text)
    old = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(home)
    try:
        load_store()
    except StoreError:
        pass
    finally:
        if old is None:
            os.environ.pop("XDG_DATA_HOME")
        else:
            os.environ["XDG_DATA_HOME"] = old


@_FUZZ
@given(st.binary(max_size=300))
def test_an_accepted_advert_holds_no_control_characters(data: bytes) -> None:
    parsed = parse_advert(data)
    if parsed is not None:
        url, uid = parsed
        assert url.isprintable() and uid.isalnum()


def test_the_advert_rate_table_stays_bounded() -> None:
    from iotkernel.discovery import AdvertListener

    listener = AdvertListener(0, "127.0.0.1", clock=lambda: 1000.0)
    try:
        for n in range(20_000):
            listener.receive(
                b"ws://10.0.0.1:8266\nabcd", f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
            )
        assert len(listener._rates) <= 4096
    finally:
        listener.close()
