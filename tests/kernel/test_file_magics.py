"""File magics through the kernel on `fake://`: %cp %cat %rlist %rm %mkdirs
%%writefile %rdiff %rsync, with their errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_kernel import Kernel

EXAMPLE = Path(__file__).parents[2] / "examples" / "project"


@pytest.fixture
def fake_kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = Kernel()
    try:
        assert k.run(f"%connect fake://files-{tmp_path.name}").status == "ok"
        assert k.run(f"%cd {tmp_path}", silent=True).status == "ok"
        yield k
    finally:
        k.stop()


def test_writefile_cp_cat_rlist_rm(fake_kernel: Kernel, tmp_path: Path) -> None:
    k = fake_kernel
    run = k.run(f"%%writefile {tmp_path}/hello.py\nprint('hello from a file')")
    assert "Wrote" in run.stream()
    run = k.run(f"%cp {tmp_path}/hello.py :")
    assert run.status == "ok", run.reply
    assert "-> :/hello.py" in run.stream()
    assert k.run("%cat :hello.py").stream() == "print('hello from a file')\n"
    assert k.run("import hello").stream() == "hello from a file\n"
    assert k.run("%mkdirs :lib/deep").status == "ok"
    k.run(f"%%writefile -a {tmp_path}/hello.py\nprint('again')")
    assert k.run(f"%cp {tmp_path}/hello.py :lib/deep/").status == "ok"
    listing = k.run("%rlist").stream()
    assert "hello.py" in listing and "deep/" in listing and "42" in listing  # size
    assert k.run(f"%cp :lib/deep/hello.py {tmp_path}/back.py").status == "ok"
    assert (tmp_path / "back.py").read_text().endswith("print('again')\n")
    assert k.run(f"%cp -r :lib {tmp_path}/copy").status == "ok"
    assert (tmp_path / "copy" / "lib" / "deep" / "hello.py").exists()
    assert k.run("%rm -r :lib").status == "ok"
    assert "deep" not in k.run("%rlist").stream()


def test_file_errors_name_the_file(fake_kernel: Kernel, tmp_path: Path) -> None:
    k = fake_kernel
    run = k.run("%cat :missing.txt")
    assert run.status == "error" and "/missing.txt" in run.reply["evalue"]
    run = k.run("%rm :missing.txt")
    assert run.status == "error" and "no such file" in run.reply["evalue"]
    assert k.run("%rm -f :missing.txt").status == "ok"
    run = k.run(f"%cp {tmp_path}/nothing.py :")
    assert run.status == "error" and "nothing.py" in run.reply["evalue"]
    run = k.run("%cp a b")
    assert run.status == "error" and run.reply["ename"] == "UsageError"


def test_rdiff_and_rsync_of_the_example_project(fake_kernel: Kernel, tmp_path: Path) -> None:
    k = fake_kernel
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    # The example's configuration names `sim`; give this board the same name.
    (project / "devices" / "sim.yaml").write_text(
        (project / "devices" / "sim.yaml").read_text().replace("sim:", "fa4e0001:")
    )
    setup = f"%%host\nimport os\nos.environ['IOT_PROJECTS'] = {str(project)!r}"
    assert k.run(setup).status == "ok"
    diff = k.run("%rdiff").stream()
    assert "\x1b[32mADD   \x1b[0m /lib/greeting.py" in diff
    assert "/blink/main.py" in diff and "test_greeting" not in diff and "notes" not in diff
    run = k.run("%rsync")
    assert run.status == "ok", run.reply
    shown = run.of_type("display_data") + run.of_type("update_display_data")  # progress
    assert shown and all("<progress value=" in d["data"]["text/html"] for d in shown)
    assert "[####################] 100%" in shown[-1]["data"]["text/plain"]  # the text fallback
    assert len({d["transient"]["display_id"] for d in shown}) == 1  # one bar, updated in place
    assert "ADD" in run.stream()
    assert k.run("%rdiff").stream() == "Directories match\n"
    assert (
        k.run("import greeting\ngreeting.hello('tour')").of_type("execute_result")[0]["data"][
            "text/plain"
        ]
        == "'hello, tour, from the board'"
    )
    (project / "lib" / "greeting.py").write_text("def hello(n='x'):\n    return 'v2'\n")
    assert "\x1b[34mUPDATE\x1b[0m /lib/greeting.py" in k.run("%rsync -n").stream()
    assert "UPDATE" in k.run("%rsync").stream()


def test_rsync_without_configuration_says_so(fake_kernel: Kernel, tmp_path: Path) -> None:
    k = fake_kernel
    k.run(f"%%host\nimport os\nos.environ['IOT_PROJECTS'] = {str(tmp_path / 'none')!r}")
    run = k.run("%rsync")
    assert run.status == "error" and "no configuration for this board" in run.reply["evalue"]
