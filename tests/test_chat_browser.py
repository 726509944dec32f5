"""End to end in a real browser: Debian's Chromium driven by the python `playwright` package.

JupyterLab (started by the test on 127.0.0.1, rooted at nbs/): open nbs/tutorials/chat.ipynb, Run -> Run All Cells,
pick a sample image, type a question, press Send, wait for the streamed answer to finish, screenshot into the
test's tmp dir. Voila (workshop mode, if installed): the same notebook as a standalone page, question sent with Enter,
then what a workshop does with it: upload a photo and see it shown, upload refused files (not an image; too large) and
read why, ask in slow motion and press Stop mid-answer, ask again, open "What did it look at?" and check the heat map.
`LLAVA_NB_UPDATE_SCREENSHOTS=1` also writes the tutorial's screenshots (nbs/tutorials/images/chat_*.png).
Skipped (with the reason) when Chromium or playwright is missing: `apt-get install -y chromium` and
`pip install playwright` (the python package only; never `playwright install`). Only the process groups the
tests start are killed.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser_checks import draw_and_ask, workshop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "nbs" / "tutorials" / "chat.ipynb"
CHROMIUM = next((p for p in (os.environ.get("CHROMIUM_PATH"), "/usr/lib/chromium/chromium", "/usr/bin/chromium")
                 if p and Path(p).is_file() and os.access(p, os.X_OK)), None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found (apt-get install -y chromium; or set CHROMIUM_PATH)"),
    pytest.mark.skipif(sync_playwright is None, reason="the python playwright package is missing (pip install playwright)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2): return
        except urllib.error.HTTPError: return  # any HTTP answer (even 404) means the server is up
        except OSError: time.sleep(0.3)
    raise TimeoutError(f"{proc.args[0]} did not answer at {url} within {timeout}s")


@contextmanager
def _serve(cmd: list[str], status_url: str, tmp_path: Path, name: str):
    "Run `cmd` in its own process group until the block ends; only that group is killed."
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / f"{name}-runtime")}  # connection files and cookie secret stay in tmp
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        _wait_http(status_url, proc, 60)
        yield
    finally:
        try: os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started, nothing else
        except ProcessLookupError: pass
        try: proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait(5)
        log.close()


def _bin(name: str) -> str | None:
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else shutil.which(name)


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server rooted at nbs/, with autosave off and its settings, workspaces and runtime files in tmp_path."
    port, token = _free_port(), "llava-nb-test"
    for plugin, value in (("docmanager-extension/plugin", '{"autosave": false}'),
                          ("apputils-extension/notification", '{"fetchNews": "false", "checkForUpdates": false}')):
        f = tmp_path / "lab-settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True); f.write_text(value)
    cmd = [_bin("jupyter") or "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'nbs'}", "--ServerApp.open_browser=False",
           f"--LabApp.user_settings_dir={tmp_path / 'lab-settings'}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
           "--LabApp.extension_manager=readonly"] + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    with _serve(cmd, f"http://127.0.0.1:{port}/api/status?token={token}", tmp_path, "jupyter"):
        yield f"http://127.0.0.1:{port}", token


@contextmanager
def _browser_page(pw, tmp_path):
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        try: yield page
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print(f"failure screenshot: {tmp_path / 'failure.png'}; server log in {tmp_path}")
            raise
    finally:
        browser.close()


def _chat(page, tmp_path, shot_name: str, enter: bool) -> str:
    "Pick the first sample, ask a question (Enter or Send), wait for the finished answer, screenshot; returns the answer."
    gallery = page.locator(".llava-chat button", has_text="scene 1").first
    gallery.wait_for(state="visible", timeout=60_000)
    gallery.click()
    box = page.get_by_placeholder("Ask about the image and press Enter")
    box.click(); box.fill("What is in the picture?")
    if enter: box.press("Enter")
    else: page.locator(".llava-chat button", has_text="Send").first.click()
    answer = page.locator('.llava-chat .llava-assistant[data-done="true"] .llava-answer').first
    answer.wait_for(state="visible", timeout=60_000)
    page.locator(".llava-chat").first.scroll_into_view_if_needed()
    shot = tmp_path / shot_name
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    text = answer.inner_text().strip()
    assert text and text != "(no answer)", f"empty answer bubble; screenshot {shot}"
    assert "tokens" in page.locator(".llava-chat .llava-stats").first.inner_text()
    assert page.locator(".llava-chat .llava-user").first.inner_text().strip() == "What is in the picture?"
    return text


def test_chat_tutorial_in_jupyterlab(lab, tmp_path):
    "Open the tutorial in JupyterLab, Run -> Run All Cells, then chat through the widget (Send button)."
    base, token = lab
    before, checkpoints = TUTORIAL.read_bytes(), TUTORIAL.parent / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    try:
        _run_in_lab(base, token, tmp_path)
    finally:  # JupyterLab writes a checkpoint when it opens a notebook: remove it if this test made it
        if not had_checkpoints and checkpoints.exists(): shutil.rmtree(checkpoints)
    assert TUTORIAL.read_bytes() == before, "the test must not save the tutorial notebook"


def _run_in_lab(base, token, tmp_path):
    with sync_playwright() as pw, _browser_page(pw, tmp_path) as page:
        page.goto(f"{base}/lab/tree/tutorials/chat.ipynb?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=45_000)
        page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=45_000)  # the kernel is up
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        _chat(page, tmp_path, "chat_jupyterlab.png", enter=False)
        draw_and_ask(page, tmp_path)


@pytest.mark.skipif(_bin("voila") is None, reason="voila is not installed (pip install voila): the workshop-mode check needs it")
def test_chat_tutorial_in_voila(tmp_path):
    "Workshop mode: the tutorial served by Voila (one kernel per visitor); chat through the widget (Enter key)."
    port = _free_port()
    cmd = [_bin("voila"), str(TUTORIAL), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    # probe /api/status: Voila answers 404 there, which shows it is up without executing the notebook
    with _serve(cmd, f"http://127.0.0.1:{port}/api/status", tmp_path, "voila"), sync_playwright() as pw, _browser_page(pw, tmp_path) as page:
        page.set_viewport_size({"width": 1100, "height": 1000})  # the tutorial's screenshots are this wide
        page.goto(f"http://127.0.0.1:{port}/", timeout=90_000)
        _chat(page, tmp_path, "chat_voila.png", enter=True)
        workshop(page, tmp_path)
        # the drawing reaches the model and it answers about the square; which colour it names is the wild set's
        # question (issue 28): the LLM with four later phases says "There is no green square in the image." here
        assert "square" in draw_and_ask(page, tmp_path).lower(), "a big red square drawn on the world's black page"
