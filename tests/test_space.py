"""The Space folder: front matter the Hub can read, pinned to the tested Gradio, and an app that
starts from that folder alone the way a Space starts it (SPACE_ID and Gradio's host/port set)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import gradio as gr
import httpx
import pytest
from huggingface_hub import metadata_load

from benchmarks.cold_start import free_port
from deploy import space


def outward_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None if it has only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_front_matter(tmp_path):
    out = space.build(tmp_path / "space", hardware="a10g-small")
    meta = metadata_load(out / "README.md")
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gr.__version__  # the version the tests ran on
    assert meta["python_version"] == "3.11" and meta["suggested_hardware"] == "a10g-small"
    assert (out / meta["app_file"]).is_file() and "stabilityai/sd-turbo" in meta["models"]
    assert len(meta["short_description"]) <= 60  # the Hub's limit
    assert meta["hf_oauth"] is True
    assert (out / "checkpoints" / "emoji-vae" / "README.md").is_file() and not list(out.rglob("__pycache__"))


@pytest.mark.slow
def test_the_space_folder_starts_on_its_own(tmp_path):
    out = space.build(tmp_path / "space")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    env |= {"SPACE_ID": "someone/atelier", "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": str(port)}
    env |= {"HF_HUB_OFFLINE": "1", "ATELIER_GALLERY_DIR": str(tmp_path / "gallery"), "PYTHONPATH": ""}
    # what the Hub sets for a Space with hf_oauth: true
    env |= {"OAUTH_CLIENT_ID": "id", "OAUTH_CLIENT_SECRET": "secret", "OAUTH_SCOPES": "openid profile"}
    env |= {"OPENID_PROVIDER_URL": "https://huggingface.co", "SYSTEM": "spaces"}
    log = tmp_path / "space.log"
    with log.open("w") as sink:
        server = subprocess.Popen([sys.executable, "app.py"], cwd=out, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 180
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                assert time.time() < deadline, log.read_text()[-3000:]
                time.sleep(1)
        assert page.status_code == 200 and "Atelier" in page.text
        while "preloaded" not in log.read_text():  # the models load right after the page is served
            assert server.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        assert "preloaded emoji-gan, emoji-conditional, emoji-vae, emoji-ldm" in log.read_text()
        # private galleries, and the Hugging Face login that keeps one on any device
        config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=5).text
        assert "Sign in to keep your gallery" in config and "Shared wall" in config
        assert httpx.get(f"http://127.0.0.1:{port}/login/huggingface", timeout=5).status_code != 404
        if address := outward_address():  # listening beyond loopback, as the Space's proxy needs
            assert httpx.get(f"http://{address}:{port}/", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(30)
