"""Hostile calls, generated: every endpoint the API lists × every parameter × a bank of hostile values,
plus too few and too many arguments, sent as a raw HTTP client would (no gradio_client checks in
between). Every call must end in a result or in a specific message (never Gradio's empty error, never
"Something went wrong", never a server path), with no 5xx; the gallery is unchanged by every refused
call, and the app is still up at the end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest
import torch
from gradio_client import Client
from PIL import Image

import app
from engines import create_engines
from engines.registry import Registry
from engines.runtime import Runtime
from gallery import Gallery

FILE = "FILE"  # a placeholder: an image uploaded to the server first
# A valid call of every endpoint; a new endpoint must be added here (the test checks the API's list).
VALID = {
    "/vae_reconstruct": [FILE, "tiny-vae"],
    "/vae_interpolate": [FILE, FILE, 3, "tiny-vae", False],
    "/vae_sample": [1, 2, "tiny-vae", False],
    "/gan_sample": [1, 2, 0.8, "tiny-gan", False],
    "/gan_variations": [1, 0.8, 0.3, 2, 1, "tiny-gan", False],
    "/gan_interpolate": [1, 2, 3, 0.8, "tiny-gan", False],
    "/conditional_sample": ["animals", "any", 1, 2, 0.8, "tiny-cgan", False],
    "/conditional_class_grid": [1, 1, 0.8, "tiny-cgan", False, False],
    "/conditional_morph": ["style", "flat", "3d", "any", "any", 1, 3, 0.8, "tiny-cgan", False],
    "/dit_sample": ["goldfish", 1, 1, 2, 3.5, "TINY_DIT", False],
    "/text_to_image": ["a cat", "", 1, 1, 2, 3.0, "model default", "tiny-ldm", False, 2, False],
    "/text_seed_sweep": ["a cat", "", 1, 2, 2, 3.0, "model default", "tiny-ldm", False],
    "/text_stop": [],
    "/text_xy_plot": ["a cat", "", 1, 2, 3.0, "model default", "tiny-ldm", "seed", "1, 2", "none", "", False, True],
    "/gan_xy_plot": [1, 0.8, "tiny-gan", "seed", "1, 2", "ψ", "0.5", False, True],
    "/gan_style_mix": ["0, 1", "2", 2, 0.8, "tiny-stylegan", False, True],
    "/conditional_xy_plot": ["any", "any", 1, 0.8, "tiny-cgan", "style", "all", "none", "", False, True],
    "/inpaint": [FILE, FILE, "a face", "", 1, 1, 2, 3.0, "model default", "tiny-ldm", False, "seamless"],
    "/denoise": [FILE, "gaussian", 0.2, 1, "tiny-ldm", "vae", 0.3],
    "/upscale": [FILE, None, "tiny-upscale", "", 0],
    "/restyle": [FILE, "all", "tiny-restyle", 1.0, "auto", False],
    "/image_to_image": [FILE, "a cat", 0.5, 1, 2, 3.0, "tiny-ldm", "", 1, False],
    "/png_info": [FILE],
    "/gallery_list": [1, False, ""],
    "/gallery_share": ["no-such-id", True],
    "/gallery_delete": ["no-such-id"],
    "/gallery_undo": [],
}
HOSTILE = [
    None,
    "",
    "x" * 20_000,
    "../../../../etc/passwd",
    -1,
    0.5,
    True,
    1e300,
    math.nan,
    [],
    {"a": 1},
    {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
]
GENERIC = ("something went wrong", '"error": null')


@pytest.fixture(scope="module")
def server(tiny_checkpoints, tiny_dit, tmp_path_factory):
    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    gallery = Gallery(tmp_path_factory.mktemp("fuzz-gallery"), private=True)
    demo = app.build_app(engines, gallery)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_port=None, quiet=True, **app.launch_kwargs(demo))
    image = tmp_path_factory.mktemp("fuzz") / "smile.png"
    Image.new("RGB", (40, 40), (240, 200, 40)).save(image)
    with httpx.Client(base_url=url.rstrip("/") + "/gradio_api", timeout=60) as http:
        with open(image, "rb") as f:
            uploaded = http.post("/upload", files={"files": f}).json()[0]
        file = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
        yield http, url, gallery, {FILE: file, "TINY_DIT": str(tiny_dit)}
    demo.close()
    gallery.close()


def call(http: httpx.Client, api_name: str, data: list) -> tuple[str, str]:
    """('complete' or 'error', the data line) of one call through the REST API, as raw HTTP."""
    body = json.dumps({"data": data, "session_hash": "fuzz"}, allow_nan=True)
    started = http.post(f"/call{api_name}", content=body, headers={"content-type": "application/json"})
    assert started.status_code < 500, (api_name, data, started.text[:300])
    if started.status_code >= 400:  # refused before it ran: must say why
        return "error", started.text
    event_id = started.json()["event_id"]
    with http.stream("GET", f"/call{api_name}/{event_id}") as stream:
        assert stream.status_code < 500
        text = stream.read().decode()
    events = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    datas = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    last = next((e for e in reversed(events) if e in ("complete", "error")), "none")
    return last, (datas[-1] if datas else "")


def cases(placeholders: dict) -> list[tuple[str, list, str]]:
    out = []
    for api_name, valid in VALID.items():
        valid = [placeholders.get(v, v) if isinstance(v, str) else v for v in valid]
        for i in range(len(valid)):
            for value in HOSTILE:
                out.append((api_name, [*valid[:i], value, *valid[i + 1 :]], f"parameter {i} = {str(value)[:30]}"))
        if valid:
            out.append((api_name, valid[:-1], "one argument too few"))
        out.append((api_name, [*valid, 1], "one argument too many"))
    return out


def test_every_endpoint_is_in_the_fuzz_table(server):
    _, url, _, _ = server
    listed = Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(listed) == set(VALID)


def test_every_hostile_call_gets_a_specific_answer_and_changes_nothing_it_refuses(server):
    http, _, gallery, placeholders = server
    secret_paths = [str(gallery.root), "/tmp/", str(Path.home())]
    generic, crashed, leaked, changed, made = [], [], [], [], 0
    for api_name, data, what in cases(placeholders):
        before = row_count(gallery)
        outcome, message = call(http, api_name, data)
        made += 1
        if outcome == "complete":
            continue
        if outcome != "error":
            crashed.append((api_name, what, message[:200]))
        elif not message or message == "null" or any(g in message.lower() for g in GENERIC):
            generic.append((api_name, what, message[:200]))
        elif any(p in message for p in secret_paths):
            leaked.append((api_name, what, message[:200]))
        if row_count(gallery) != before:
            changed.append((api_name, what))
    print(f"{made} hostile calls")
    assert not crashed, crashed[:10]
    assert not generic, f"{len(generic)} generic answers: {generic[:15]}"
    assert not leaked, leaked[:10]
    assert not changed, changed[:10]
    assert http.get("/info").status_code == 200  # still up


def row_count(gallery: Gallery) -> int:
    """Every image in the gallery, whoever's (a private gallery counts per owner)."""
    return gallery._db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
