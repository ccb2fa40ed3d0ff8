"""The web app end to end in headless Chromium (selenium + Debian's chromium and chromium-driver): the
fake microphone plays a WAV file, the page records it, asks the server, and plays the motion in 3D.
Skips when Chromium is not installed. With SAYMOTION_SCREENSHOT=docs/images/web-app.png it also
refreshes the README's screenshot; otherwise the screenshot only goes to the test's temporary folder."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import soundfile
import uvicorn
from PIL import Image

from saymotion.fileio import atomic_open
from saymotion.server import create_app
from saymotion.settings import REPO_DIR
from test_pipeline import tone_with_syllables

pytestmark = pytest.mark.slow

SCREENSHOT_ENV = "SAYMOTION_SCREENSHOT"  # where to save the page's screenshot (relative to the repo)
RECORD_SECONDS = 2.0
TIMEOUT_S = 90.0  # generous: the machine may be busy, and WebGL is drawn in software


def chromium_paths() -> tuple[str, str]:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("Chromium is not installed (Debian packages chromium and chromium-driver)")
    return browser, driver


@pytest.fixture(scope="module")
def server_url(tiny_speech_model: Path) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(tiny_speech_model), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the server to start")
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    binary, driver_path = chromium_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    microphone = tmp_path_factory.mktemp("microphone") / "instruction.wav"
    soundfile.write(microphone, tone_with_syllables(3.0, 48_000), 48_000, subtype="PCM_16")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,820",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        # Headless Chromium has no GPU: WebGL runs on SwiftShader, which must be allowed explicitly.
        "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def coloured_pixels(png: bytes) -> int:
    """Pixels in the bones' strong blue or red (the background and floor are greys)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((red - np.maximum(green, blue) > 60) | (blue - np.maximum(red, green) > 60)).sum())


def test_record_generate_and_watch(browser, server_url: str, tmp_path: Path):
    from selenium.webdriver.common.by import By

    find = lambda css: browser.find_element(By.CSS_SELECTOR, css)  # noqa: E731
    browser.get(server_url)
    wait_for(lambda: find("body").get_attribute("data-ready") == "true", "the page to load")
    find("#record").click()
    wait_for(lambda: find("#record").text == "Stop", "recording to start")
    time.sleep(RECORD_SECONDS)
    find("#record").click()
    wait_for(lambda: find("#audio-status").text.startswith("Recording,"), "the recording to finish")

    find("#generate").click()
    wait_for(lambda: find("#downloads").is_displayed() or "error" in find("#message").get_attribute("class"),
             "the motion or an error")
    assert find("#downloads").is_displayed(), find("#message").text
    canvas = find("#viewer")
    wait_for(lambda: int(canvas.get_attribute("data-frames-drawn") or 0) > 30, "frames to be drawn")
    frames_shown = set()
    for _ in range(20):
        frames_shown.add(canvas.get_attribute("data-motion-frame"))
        time.sleep(0.1)
    assert len(frames_shown) > 1, "the animation does not advance"
    assert coloured_pixels(canvas.screenshot_as_png) > 100, "the skeleton is not drawn"

    for link in browser.find_elements(By.CSS_SELECTOR, "#downloads a[data-kind]"):
        with urllib.request.urlopen(link.get_attribute("href")) as response:
            assert response.status == 200 and len(response.read()) > 100
    screenshot = REPO_DIR / os.environ[SCREENSHOT_ENV] if os.environ.get(SCREENSHOT_ENV) else tmp_path / "web-app.png"
    with atomic_open(screenshot, "wb") as handle:
        handle.write(browser.get_screenshot_as_png())
    assert Image.open(screenshot).size[0] > 400

    # A server error appears on the page as its one line.
    notes = tmp_path / "notes.txt"
    notes.write_text("walk forward " * 50)
    find("#file").send_keys(str(notes))
    wait_for(lambda: "notes.txt" in find("#audio-status").text, "the file to be chosen")
    find("#generate").click()
    wait_for(lambda: "error" in find("#message").get_attribute("class"), "the error message")
    assert find("#message").text.startswith("notes.txt: not a readable audio file")
