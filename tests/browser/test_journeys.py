"""A user's journeys in JupyterLab, in a real browser (Debian's Chromium driven
by Playwright with `executable_path`: no browser download).

JupyterLab runs on 127.0.0.1 with a token and isolated Jupyter directories.
Each journey saves a screenshot of its final state in `artifacts/screenshots/`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..backends import IN_CI, require_unix_port
from ..kernel.jupyter_env import prepare

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).parents[2] / "artifacts" / "screenshots"
EXAMPLES = Path(__file__).parents[2] / "examples"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _requirements() -> None:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append("chromium (apt-get install chromium)")
    try:
        import jupyterlab  # noqa: F401
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright and jupyterlab (pip install '.[test]')")
    if missing:
        if IN_CI:
            pytest.fail("CI must run the browser journeys; missing: " + ", ".join(missing))
        pytest.skip("missing: " + ", ".join(missing))


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    _requirements()
    require_unix_port()
    root = prepare()
    notebooks = root / "notebooks"
    shutil.rmtree(notebooks, ignore_errors=True)
    shutil.copytree(EXAMPLES / "project", notebooks / "project")
    token = "journey-token"
    log = (root / "lab.log").open("w")
    # Port 0: the server binds a free port itself and writes it to its runtime
    # file; kernels talk over IPC sockets. Nothing picks a port to release it
    # and bind it again later, which another process could take in between.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            "--port=0",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={notebooks}",
            "--KernelManager.transport=ipc",
            "--LabApp.news_url=",
            "--allow-root",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "IOT_PROJECTS": str(notebooks / "project")},
    )
    try:
        deadline = time.monotonic() + 60
        runtime_file = Path(os.environ["JUPYTER_RUNTIME_DIR"]) / f"jpserver-{server.pid}.json"
        port = 0
        while True:
            try:
                if not port:
                    port = int(json.loads(runtime_file.read_text())["port"])
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/status?token={token}", timeout=1
                )
                break
            except (OSError, ValueError, KeyError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("JupyterLab did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/lab/workspaces/{{name}}?reset&token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _requirements()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Notebook:
    """A fresh notebook on the IoT Kernel, opened from the Launcher."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def run(self, code: str, *, wait_for: str | None = None, timeout: float = 30) -> None:
        """Type code in the active cell and run it with Shift+Enter."""
        self.page.keyboard.type(code)
        self.page.keyboard.press("Shift+Enter")
        if wait_for is not None:
            self.output(wait_for, timeout)

    def output(self, text: str, timeout: float = 30) -> Any:
        locator = self.page.locator(".jp-OutputArea-output", has_text=text).last
        locator.wait_for(timeout=timeout * 1000)
        return locator

    def idle(self, timeout: float = 30) -> None:
        self.page.get_by_text("IoT Kernel | Idle").wait_for(timeout=timeout * 1000)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.fixture
def notebook(lab: str, browser: Any, request: pytest.FixtureRequest) -> Iterator[Notebook]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(lab.format(name=request.node.name.replace("_", "-")))
    card = page.locator('.jp-LauncherCard[title*="IoT Kernel"]').first
    card.wait_for(timeout=60_000)
    card.click()
    page.locator(".jp-Notebook").wait_for(timeout=30_000)
    book = Notebook(page)
    book.idle(60)
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
    try:
        yield book
    finally:
        book.shot(request.node.name)
        page.close()


def test_launcher_shows_the_kernel_with_its_logo(lab: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(lab.format(name="launcher"))
        card = page.locator('.jp-LauncherCard[title*="IoT Kernel"]').first
        card.wait_for(timeout=60_000)
        logo = card.locator("img")
        assert "logo" in (logo.get_attribute("src") or "")
        card.click()
        Notebook(page).idle(60)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "launcher-and-idle.png"))
    finally:
        page.close()


def test_output_streams_while_the_cell_runs(notebook: Notebook) -> None:
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run("import time\nfor i in range(6): print('tick', i); time.sleep(0.5)")
    start = time.monotonic()
    notebook.output("tick 0")
    first = time.monotonic() - start
    notebook.output("tick 5")
    assert first < (time.monotonic() - start) - 1.5  # the first line came well before the end


def test_exception_shows_the_cells_line_and_the_next_cell_runs(notebook: Notebook) -> None:
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run("x = 1\ny = 2\nraise ValueError('boom on line 3')")
    error = notebook.output("ValueError")
    assert "line 3" in error.inner_text()
    notebook.run("print('still running')", wait_for="still running")


def test_stop_button_interrupts_an_endless_loop(notebook: Notebook) -> None:
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run("while True: pass")
    notebook.page.get_by_text("IoT Kernel | Busy").wait_for(timeout=10_000)
    time.sleep(0.5)
    start = time.monotonic()
    notebook.page.locator('[data-command="notebook:interrupt-kernel"]').first.click()
    notebook.output("KeyboardInterrupt", timeout=10)
    notebook.idle(10)
    assert time.monotonic() - start < 3
    notebook.run("print('after the loop')", wait_for="after the loop")


def test_tab_completion_and_magic_help(notebook: Notebook) -> None:
    page = notebook.page
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run("import machine", timeout=10)
    notebook.idle()
    page.keyboard.type("machine.uni")
    page.keyboard.press("Tab")
    page.locator(".jp-Completer-item", has_text="unique_id").first.wait_for(timeout=10_000)
    page.keyboard.press("Escape")
    page.keyboard.press("Control+a")
    page.keyboard.type("%con")
    page.keyboard.press("Tab")
    page.locator(".jp-Completer-item", has_text="%connect").first.wait_for(timeout=10_000)
    page.keyboard.press("Escape")
    page.keyboard.press("Control+a")
    page.keyboard.type("%softreset")
    page.keyboard.press("Shift+Tab")
    page.locator(".jp-Tooltip", has_text="usage: %softreset").wait_for(timeout=10_000)


def test_rsync_progress_reaches_100_percent(notebook: Notebook) -> None:
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run("%rsync", timeout=60)
    notebook.output("100%", timeout=60)


def test_store_and_host_plot(notebook: Notebook) -> None:
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run(
        "readings = [i * i for i in range(10)]\n%store readings", wait_for="Stored readings"
    )
    notebook.run(
        "%%host\nimport matplotlib.pyplot as plt\nplt.plot(readings)\nplt.show()", timeout=60
    )
    notebook.page.locator(".jp-OutputArea-output img").last.wait_for(timeout=60_000)


def test_input_answered_in_the_browser(notebook: Notebook) -> None:
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run("name = input('your name? ')\nprint('hello', name)")
    box = notebook.page.locator(".jp-Stdin-input").first
    box.wait_for(timeout=20_000)
    box.fill("Ada")
    box.press("Enter")
    notebook.output("hello Ada")


def test_live_plot_updates_one_chart_in_place(notebook: Notebook) -> None:
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run(
        "%%plot --every 0.2\nimport time\n"
        "for i in range(40): print(i % 10); time.sleep(0.05)\nprint('plotted')"
    )
    notebook.page.locator(".jp-OutputArea-output img").last.wait_for(timeout=30_000)
    first = notebook.page.locator(".jp-OutputArea-output img").last.get_attribute("src")
    notebook.output("plotted", timeout=30)
    notebook.idle()
    cell = notebook.page.locator(".jp-Cell").nth(1)
    assert cell.locator(".jp-OutputArea-output img").count() == 1  # one chart, updated
    assert cell.locator(".jp-OutputArea-output img").get_attribute("src") != first


def test_parallel_cell_shows_each_board_then_a_table(notebook: Notebook) -> None:
    notebook.run(
        "%%connect --parallel -q sim fake://journey-a fake://journey-b\n"
        "import time\ntime.sleep(1)\nprint('slept on', __import__('sys').platform)"
    )
    table = notebook.output("status", timeout=60)
    text = table.inner_text()
    assert text.count("ok") >= 3 and "board" in text
    for header in ("----- sim", "----- fake://journey-a", "----- fake://journey-b"):
        notebook.output(header)


def test_debugger_variables_panel_shows_the_boards_variables(notebook: Notebook) -> None:
    page = notebook.page
    notebook.run("%connect sim", wait_for="Connected to sim")
    notebook.run("count = 42\nreadings = list(range(5))\nlabel = 'pico'")
    notebook.idle()
    bug = page.locator(".jp-DebuggerBugButton").first
    bug.wait_for(timeout=30_000)
    start = time.monotonic()
    bug.click()  # enabled only where the kernelspec and kernel_info offer the debugger
    panel = page.locator(".jp-DebuggerVariables")
    if not panel.first.is_visible():  # the debugger's sidebar, if it did not open itself
        page.locator('.jp-SideBar [title^="Debugger"]').first.click()
    panel.get_by_text("readings").first.wait_for(timeout=30_000)
    filled = time.monotonic() - start
    text = panel.first.inner_text()
    assert "count" in text and "42" in text and "'pico'" in text and "list, len 5" in text
    # Expanded one level: the list's items.
    panel.get_by_text("readings").first.click()
    panel.get_by_text("4").last.wait_for(timeout=30_000)
    # A new cell's variables appear once it has run.
    page.locator(".jp-Notebook .jp-Cell .cm-content").last.click()
    notebook.run("after = 'ran'")
    notebook.idle()
    panel.get_by_text("after").first.wait_for(timeout=30_000)
    print(f"Variables panel filled {filled:.2f} s after the debugger was switched on")


@pytest.fixture
def settrace_pico(tmp_path: Path) -> Iterator[str]:
    """A Pico whose firmware has sys.settrace (the debugger's board)."""
    from fakes.pico_board import PicoBoard, missing_requirement

    if (missing := missing_requirement()) is not None:
        if IN_CI:
            pytest.fail(missing + ": CI must run the debugger journey")
        pytest.skip(missing)
    with PicoBoard(tmp_path / "ttyPicoTrace", firmware="pico-settrace") as board:
        yield board.url


def test_debugger_stops_at_a_breakpoint_then_steps_and_continues(
    notebook: Notebook, settrace_pico: str
) -> None:
    page = notebook.page
    notebook.run(f"%connect {settrace_pico}", wait_for="Connected to", timeout=60)
    notebook.idle()
    page.locator(".jp-DebuggerBugButton").first.click()
    page.locator(".jp-DebuggerVariables").first.wait_for(timeout=30_000)
    cell = page.locator(".jp-Notebook .jp-Cell").last
    cell.locator(".cm-content").click()
    page.keyboard.type("def double(x):\n    y = x * 2\n    return y\n")
    page.keyboard.press("Backspace")  # out of the function's indentation
    page.keyboard.type("a = 1\nb = double(a)\nprint('b', b)")
    # A breakpoint on line 4: a click in the breakpoint gutter beside it.
    line = cell.locator(".cm-line").nth(3)
    gutter = cell.locator(".cm-breakpoint-gutter").first
    line_box, gutter_box = line.bounding_box(), gutter.bounding_box()
    assert line_box is not None and gutter_box is not None
    page.mouse.click(
        gutter_box["x"] + gutter_box["width"] / 2, line_box["y"] + line_box["height"] / 2
    )
    cell.locator(".cm-breakpoint-icon:visible").first.wait_for(timeout=10_000)
    page.keyboard.press("Shift+Enter")
    frames = page.locator(".jp-DebuggerCallstackFrame")
    frames.first.wait_for(timeout=30_000)
    assert "4" in frames.first.inner_text()  # stopped at its line
    page.locator(".jp-DebuggerEditor-highlight").first.wait_for(timeout=10_000)
    notebook.shot("debugger-stopped-at-breakpoint")
    for command, wanted in (("debugger:next", "5"), ("debugger:stepIn", "double")):
        page.locator(f'[data-command="{command}"]').first.click()
        page.locator(".jp-DebuggerCallstackFrame", has_text=wanted).first.wait_for(timeout=30_000)
    notebook.shot("debugger-stepped-into-a-function")
    page.locator('[data-command="debugger:continue"]').first.click()
    notebook.output("b 2", timeout=30)
    notebook.idle()
