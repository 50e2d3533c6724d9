"""The course in a real JupyterLab, in a real Chromium: "Run all" leaves its pages alive, wherever the browser is.

Two learners:
- one on the machine that runs JupyterLab, who runs a chapter with an embedded chat page
  through Run All and expects the page to be connected and to show what the notebook said;
- one on another machine (an SSH tunnel, a lab server, a hub) whose browser cannot reach the
  kernel's ``127.0.0.1`` at all: every frame and link must go through the Jupyter server.
"""

from __future__ import annotations

import pytest

from conftest import NOTEBOOKS, start_browser, stop_browser
from jupyter import TOKEN, jupyter_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The chapter with a chat page embedded under its notebook clients, and what they say in it.
CHAPTER = "08_chat_rooms.ipynb"
NOTEBOOK_SAYS = "Hello, browser!"

RUN_ALL = """
const done = arguments[arguments.length - 1];
(async () => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    const ok = await app.commands.execute("notebook:run-all-cells");
    done({ok, errors: [...panel.node.querySelectorAll(".jp-OutputArea-output")]
        .filter(n => n.dataset.mimeType === "application/vnd.jupyter.stderr" || n.querySelector(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']"))
        .map(n => n.innerText.slice(0, 500))});
})().catch(error => done({ok: false, errors: [String(error)]}));
"""


def _open_and_run_all(driver, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "const a = window.jupyterapp; return !!(a && a.shell.currentWidget && a.shell.currentWidget.sessionContext)"))
    driver.set_script_timeout(180)
    result = driver.execute_async_script(RUN_ALL)
    assert result["ok"], f"Run all failed: {result['errors']}"
    assert not result["errors"], f"cells failed: {result['errors']}"


def _chat_frame(driver):
    """The embedded chat page's frame, once it is connected (switches the driver into it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    frames = [f for f in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output iframe")
              if "chat.html" in (f.get_attribute("src") or "")]
    assert frames, "no embedded chat page in the outputs"
    driver.switch_to.frame(frames[-1])
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "status").text.strip() == "connected")
    return frames[-1]


def test_run_all_leaves_the_embedded_page_alive_and_showing_the_notebooks_messages(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert (NOTEBOOKS / CHAPTER).exists()
    with jupyter_server(tmp_path, base_url="/", lab=True, hub_prefix=False) as lab:
        try:
            _open_and_run_all(browser, f"{lab.url}lab/tree/notebooks/{CHAPTER}?token={TOKEN}")
            _chat_frame(browser)
            WebDriverWait(browser, 20).until(
                lambda d: NOTEBOOK_SAYS in d.find_element(By.ID, "messages").text)
        finally:
            browser.switch_to.default_content()


def test_a_remote_browser_reaches_frames_and_links_through_the_jupyter_server(tmp_path):
    """The browser reaches Jupyter as jupyter.test; every direct 127.0.0.1 request goes to a dead proxy."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with jupyter_server(tmp_path, base_url="/user/learner/", lab=True, hub_prefix=False, remote_access=True) as lab:
        remote = start_browser("--host-resolver-rules=MAP jupyter.test 127.0.0.1",
                               "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>;jupyter.test")
        try:
            origin = f"http://jupyter.test:{lab.port}"
            _open_and_run_all(remote, f"{origin}/user/learner/lab/tree/notebooks/{CHAPTER}?token={TOKEN}")
            frame = _chat_frame(remote)
            remote.switch_to.default_content()
            src = frame.get_attribute("src")
            assert src.startswith(f"{origin}/user/learner/proxy/"), src
            links = [a.get_attribute("href") for a in remote.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output a")
                     if "proxy/" in (a.get_attribute("href") or "")]
            assert links, "no link to a page of the kernel's servers"
            remote.get(links[-1])  # the "open in a new tab" link, as the learner clicks it
            WebDriverWait(remote, 20).until(lambda d: d.find_element(By.ID, "status").text.strip() == "connected")
            # And the simulation is real: the kernel's own address is out of this browser's reach.
            port = src.split("/proxy/")[1].split("/")[0]
            with pytest.raises(WebDriverException, match="ERR_PROXY_CONNECTION_FAILED"):
                remote.get(f"http://127.0.0.1:{port}/static/chat.html")
            assert not remote.find_elements(By.ID, "status")
        finally:
            stop_browser(remote)
