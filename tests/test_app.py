"""App level: launch the Blocks app in-process and drive it with gradio_client, as an API client would."""

from __future__ import annotations

import base64
import io
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

import app
from engines import create_engines
from engines.registry import Registry
from engines.runtime import Runtime
from gallery import Gallery, read_recipe
from tests.test_imaging import png_declaring

ROOT = Path(__file__).resolve().parent.parent


def handler(demo: gr.Blocks, api_name: str):
    """The function behind an endpoint, to call it as a raw HTTP client's values would reach it."""
    return next(f.fn for f in demo.fns.values() if f.api_name == api_name)


def restored(demo: gr.Blocks, image_id: str) -> dict:
    """Reuse settings, as the page applies it: control name -> value (an update's value)."""
    tab, values = demo.panel.settings(image_id)
    values = {k: v.get("value", v.get("selected")) if isinstance(v, dict) else v for k, v in values.items()}
    return {"tab": tab.id} | values


def restored_alone(demo: gr.Blocks, image_id: str) -> dict:
    """*Use this seed*, as the page applies it: the image by itself."""
    _, values = demo.panel.settings(image_id, alone=True)
    return {k: v.get("value", v.get("selected")) if isinstance(v, dict) else v for k, v in values.items()}


@pytest.fixture(scope="module")
def served(tiny_checkpoints, tmp_path_factory):
    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    gallery = Gallery(tmp_path_factory.mktemp("app-gallery"))
    demo = app.build_app(engines, gallery)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_port=None, quiet=True, **app.launch_kwargs(demo))
    client = Client(url, verbose=False)
    yield client, gallery, demo
    demo.close()
    gallery.close()


def test_named_endpoints(served):
    client, _, _ = served
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    expected = {
        "/vae_reconstruct",
        "/vae_interpolate",
        "/vae_sample",
        "/gallery_list",
        "/gan_sample",
        "/gan_variations",
    }
    expected |= {"/gan_interpolate", "/conditional_sample", "/conditional_class_grid", "/conditional_morph"}
    expected |= {"/dit_sample", "/text_to_image", "/text_seed_sweep", "/text_stop", "/upscale", "/png_info"}
    expected |= {"/text_xy_plot", "/gan_xy_plot", "/conditional_xy_plot", "/gallery_undo", "/inpaint", "/denoise"}
    assert expected | {"/gan_style_mix"} <= set(endpoints)  # a StyleGAN model is installed: its grid too


def test_reconstruct_saves_to_gallery_with_recipe(served, sample_png):
    client, gallery, _ = served
    before = gallery.count()
    _, reconstruction, _, scores = client.predict(handle_file(str(sample_png)), "tiny-vae", api_name="/vae_reconstruct")
    assert "PSNR" in scores and "SSIM" in scores
    assert Image.open(reconstruction).size == (256, 256)  # upscaled for display ...
    entry = gallery.list()[0]
    assert gallery.count() == before + 1 and entry.id in scores
    assert Image.open(entry.path).size == (32, 32)  # ... saved at native size
    assert read_recipe(str(entry.path))["operation"] == "reconstruct"
    listing = client.predict(1, api_name="/gallery_list")
    assert listing["items"][0]["id"] == entry.id and listing["total"] == gallery.count()
    png = httpx.get(client.src.rstrip("/") + listing["items"][0]["url"]).content  # the file, metadata intact
    assert png == entry.path.read_bytes()


def test_sample_and_interpolate(served, sample_png, tmp_path):
    client, gallery, _ = served
    blue = tmp_path / "blue.png"
    Image.new("RGB", (50, 50), (20, 40, 220)).save(blue)
    images = client.predict(5, 3, "tiny-vae", api_name="/vae_sample")
    assert [item["caption"] for item in images] == ["#5", "#6", "#7"]
    downloaded = read_recipe(images[0]["image"])  # the file the client gets still carries the recipe
    assert downloaded["seed"] == 5 and downloaded["engine"] == "vae"
    strip, gif = client.predict(
        handle_file(str(sample_png)), handle_file(str(blue)), 4, "tiny-vae", api_name="/vae_interpolate"
    )
    assert Image.open(strip).size == (2 * 32, 2 * 32)  # 4 frames in rows of 2
    assert Image.open(gif).is_animated
    assert gallery.list()[0].recipe["operation"] == "interpolate"


BAD_CALLS = [  # VAE tab and gallery first
    ("/vae_sample", (-2, 2, "tiny-vae"), "minimum|seed"),
    ("/vae_sample", (2**70, 2, "tiny-vae"), "maximum|seed"),
    ("/vae_sample", (1, 10**6, "tiny-vae"), "maximum|count"),
    ("/vae_sample", (1, 2, "no-such-model"), "unknown vae model"),
    ("/vae_sample", (1, 2, "madebyollin/taesd"), "unavailable"),
    ("/vae_interpolate", (None, None, 4, "tiny-vae"), "two images"),
    ("/gallery_list", ("x",), "page"),
    # GAN tab
    ("/gan_sample", (1, 10**6, 0.8, "tiny-gan"), "count must be a whole number from 1 to 64"),
    ("/gan_sample", (-2, 4, 0.8, "tiny-gan"), "minimum|seed"),
    ("/gan_sample", (2**70, 4, 0.8, "tiny-gan"), "maximum|seed"),
    ("/gan_sample", (1, 4, 0.8, "missing-gan"), "unknown gan model"),
    ("/gan_interpolate", (1, 2, 1000, 0.8, "tiny-gan"), "maximum|frames"),
    # text tab
    ("/text_to_image", ("", "", 0, 1, 0, 3.0, "model default", "tiny-ldm"), "minimum|steps"),
    ("/text_to_image", ("cat", "", 0, 1, 10**6, 3.0, "model default", "tiny-ldm"), "maximum|steps"),
    ("/text_to_image", ("x" * 100_000, "", 0, 1, 2, 3.0, "model default", "tiny-ldm"), "characters"),
    ("/text_to_image", ("cat", "", 0, 1, 2, 3.0, "Warp drive", "tiny-ldm"), "scheduler|choices"),
    ("/text_to_image", ("cat", "", 0, 1, 2, 3.0, "model default", "stabilityai/sd-turbo"), "unavailable"),
    # class-conditional tab
    ("/conditional_sample", ("dragons", "any", 0, 4, 0.8, "tiny-cgan"), "unknown category"),
    ("/conditional_sample", ("9999", "any", 0, 4, 0.8, "tiny-cgan"), "out of range"),
    ("/conditional_sample", ("", "any", 0, 4, 0.8, "tiny-cgan"), "choose a category"),
    ("/conditional_sample", ("animals", "any", 0, 4, 0.8, "tiny-gan"), "unknown conditional model"),
    ("/conditional_morph", ("colour", "flat", "3d", "any", "any", 0, 5, 1.0, "tiny-cgan"), "label_set must be one"),
]


@pytest.mark.parametrize(("endpoint", "args", "message"), BAD_CALLS, ids=[f"{e}{a}"[:40] for e, a, _ in BAD_CALLS])
def test_bad_input_gets_a_clear_message(served, endpoint, args, message):
    client, gallery, _ = served
    before = gallery.count()
    with pytest.raises(Exception, match=f"(?i){message}"):
        client.predict(*args, api_name=endpoint)
    assert gallery.count() == before  # nothing half-written reaches the gallery


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"definitely not an image", "not an image"),
        (png_declaring(20000, 20000), "too large|megapixels"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not an image|damaged"),
    ],
)
def test_bad_files_get_a_clear_message_and_the_app_stays_up(served, tmp_path, sample_png, content, message):
    client, gallery, _ = served
    bad = tmp_path / "upload.png"
    bad.write_bytes(content)
    before = gallery.count()
    with pytest.raises(Exception, match=f"(?i){message}"):
        client.predict(handle_file(str(bad)), "tiny-vae", api_name="/vae_reconstruct")
    assert gallery.count() == before
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    with pytest.raises(Exception, match="at least"):
        client.predict(handle_file(str(tiny)), "tiny-vae", api_name="/vae_reconstruct")
    client.predict(handle_file(str(sample_png)), "tiny-vae", api_name="/vae_reconstruct")  # still up


@pytest.mark.parametrize("seed", [math.nan, math.inf, 1.5, "7; DROP TABLE images"])
def test_values_json_clients_cannot_send_are_still_refused(served, seed):
    """NaN and inf cannot travel through gradio_client (strict JSON), but a raw HTTP client can send them."""
    _, gallery, demo = served
    before = gallery.count()
    with pytest.raises(gr.Error, match="seed"):
        handler(demo, "vae_sample")(seed, 2, "tiny-vae")
    assert gallery.count() == before


def test_reuse_settings_restores_a_sample_exactly(served):
    client, gallery, demo = served
    client.predict(40, 3, "tiny-vae", api_name="/vae_sample")
    third = gallery.list()[0]  # newest: seed 42
    settings = restored(demo, third.id)
    seed, count = settings["seed"], settings["count"]
    assert (seed, count) == (42, 1) and settings["tab"] == "vae" and settings["mode"] == "sample"
    again = client.predict(seed, count, "tiny-vae", api_name="/vae_sample")
    assert Image.open(again[0]["image"]).tobytes() == Image.open(third.path).tobytes()


def test_reuse_settings_restores_the_uploaded_image(served, sample_png):
    client, gallery, demo = served
    client.predict(handle_file(str(sample_png)), "tiny-vae", api_name="/vae_reconstruct")
    settings = restored(demo, gallery.list()[0].id)
    image_path = settings["image"]
    assert image_path and Image.open(image_path).size == (32, 32)
    assert json.loads(json.dumps(gallery.list()[0].recipe))["inputs"]["image"] in image_path


def test_gan_endpoints(served):
    client, gallery, _ = served
    before = gallery.count()
    grid = client.predict(11, 4, 0.8, "tiny-gan", api_name="/gan_sample")
    assert [item["caption"] for item in grid] == ["#11", "#12", "#13", "#14"]
    assert read_recipe(grid[0]["image"])["params"]["psi"] == 0.8
    variations = client.predict(12, 0.8, 0.3, 3, 5, "tiny-gan", api_name="/gan_variations")
    assert len(variations) == 3 and read_recipe(variations[0]["image"])["operation"] == "variation"
    strip, gif = client.predict(1, 2, 5, 1.0, "tiny-gan", api_name="/gan_interpolate")
    assert Image.open(strip).size == (3 * 16, 2 * 16) and Image.open(gif).is_animated
    assert gallery.count() == before + 4 + 3 + 1


def test_gan_psi_nan_from_a_raw_client(served):
    _, _, demo = served
    with pytest.raises(gr.Error, match="ψ"):
        handler(demo, "gan_sample")(1, 4, math.nan, "tiny-gan")


def test_gan_reuse_settings_restores_the_whole_grid_bit_for_bit(served):
    client, gallery, demo = served
    grid = client.predict(20, 6, 0.7, "tiny-gan", api_name="/gan_sample")
    fourth = next(e for e in gallery.list() if e.recipe.get("seed") == 23)
    settings = restored(demo, fourth.id)
    assert settings["tab"] == "gan" and settings["mode"] == "sample"
    again = client.predict(
        settings["seed"], settings["count"], settings["psi"], settings["model"], api_name="/gan_sample"
    )
    assert [Image.open(a["image"]).tobytes() for a in again] == [Image.open(g["image"]).tobytes() for g in grid]


def test_a_huge_image_pasted_as_a_data_url_is_refused_before_it_is_decoded(served, tmp_path):
    """A data: URL (a pasted image, or an API client's inline one) gets the same checks as an upload:
    a real 12000×12000 PNG of a few kB is refused from its header, in well under a second of work."""
    client, gallery, _ = served
    buffer = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    base, before = client.src.rstrip("/"), gallery.count()
    payload = {"data": [{"url": url, "meta": {"_type": "gradio.FileData"}}, None, "tiny-upscale"]}
    started = time.perf_counter()
    event_id = httpx.post(f"{base}/gradio_api/call/upscale", json=payload).json()["event_id"]
    stream = httpx.get(f"{base}/gradio_api/call/upscale/{event_id}", timeout=30).text
    assert "event: error" in stream and "megapixels" in stream and time.perf_counter() - started < 3
    assert gallery.count() == before
    payload["data"][0]["url"] = "data:image/png;base64,@@not-base64@@"
    event_id = httpx.post(f"{base}/gradio_api/call/upscale", json=payload).json()["event_id"]
    assert "not valid base64" in httpx.get(f"{base}/gradio_api/call/upscale/{event_id}", timeout=30).text


def test_a_server_path_sent_as_an_upload_is_refused(served, tmp_path):
    """A raw HTTP client naming a file on the server (not uploaded) must not get it read."""
    client, gallery, _ = served
    secret = tmp_path / "secret.png"
    Image.new("RGB", (20, 20), "red").save(secret)
    base, before = client.src.rstrip("/"), gallery.count()
    payload = {"data": [{"path": str(secret), "meta": {"_type": "gradio.FileData"}}, "tiny-vae"]}
    event_id = httpx.post(f"{base}/gradio_api/call/vae_reconstruct", json=payload).json()["event_id"]
    stream = httpx.get(f"{base}/gradio_api/call/vae_reconstruct/{event_id}", timeout=30).text
    assert "event: error" in stream and "PSNR" not in stream
    assert gallery.count() == before


def test_text_to_image_saves_prompt_and_history_and_reuse_restores_it(served):
    client, gallery, demo = served
    before = gallery.count()
    images, status = client.predict(
        "a cat\nwith a hat", "", 30, 2, 3, 3.0, "model default", "tiny-ldm", api_name="/text_to_image"
    )
    assert [item["caption"] for item in images] == ["#30", "#31"] and "2 images saved" in status
    assert gallery.count() == before + 2
    recipe = read_recipe(images[1]["image"])
    assert recipe["prompt"] == "a cat with a hat" and recipe["seed"] == 31 and recipe["params"]["steps"] == 3
    assert Image.open(images[0]["image"]).info["parameters"].startswith("a cat with a hat\n")  # A1111 readers
    history = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "history")
    assert history()[0][:5] == ["a cat with a hat", "", 30, 2, 3]

    settings = restored(demo, gallery.list()[0].id)
    assert settings["tab"] == "text" and settings["prompt"] == "a cat with a hat"
    names = ("prompt", "negative", "seed", "count", "steps", "guidance", "scheduler", "model")
    again, _ = client.predict(*[settings[name] for name in names], api_name="/text_to_image")
    assert [Image.open(a["image"]).tobytes() for a in again] == [Image.open(i["image"]).tobytes() for i in images]


def test_use_this_seed_makes_the_clicked_image_alone_with_the_same_pixels(served):
    client, _, demo = served
    grid = client.predict(50, 4, 0.8, "tiny-gan", api_name="/gan_sample")
    items = [(item["image"], item["caption"]) for item in grid]  # as the page sends the grid back
    entry = demo.studio.picked(items, 2)
    assert entry is not None and entry.recipe["seed"] == 52
    settings = restored_alone(demo, entry.id)
    assert (settings["seed"], settings["count"]) == (52, 1)  # its own seed, one image: not its batch's 50, 4
    (alone,) = client.predict(
        settings["seed"], settings["count"], settings["psi"], settings["model"], api_name="/gan_sample"
    )
    assert Image.open(alone["image"]).tobytes() == Image.open(grid[2]["image"]).tobytes()

    (text,), _ = client.predict("a fox", "", 80, 1, 2, 3.0, "model default", "tiny-ldm", api_name="/text_to_image")
    assert restored_alone(demo, demo.studio.picked([text["image"]], 0).id)["count"] == 1
    variations = client.predict(12, 0.8, 0.3, 3, 5, "tiny-gan", api_name="/gan_variations")
    variation = demo.studio.picked([v["image"] for v in variations], 1)
    assert not demo.panel.makes_alone(variation.recipe)  # one draw of noise for the batch: no image alone
    with pytest.raises(gr.Error, match="cannot be made by itself"):
        demo.panel.settings(variation.id, alone=True)
    assert demo.studio.picked(items, 9) is None and demo.studio.picked([("/tmp/preview.png", "")], 0) is None


def test_gallery_search_by_words_and_seed_filter_by_tab_and_favourites(served):
    client, gallery, demo = served
    client.predict("a zebracorn", "", 9001, 2, 2, 3.0, "model default", "tiny-ldm", api_name="/text_to_image")
    client.predict(9001, 2, 0.8, "tiny-gan", api_name="/gan_sample")
    found = client.predict(1, False, "ZEBRACORN", api_name="/gallery_list")
    assert found["total"] == 2 and {i["recipe"]["prompt"] for i in found["items"]} == {"a zebracorn"}
    by_seed = client.predict(1, False, "#9001", api_name="/gallery_list")  # the seed exactly, in any tab
    assert sorted(i["recipe"]["engine"] for i in by_seed["items"]) == ["gan", "text"]
    assert client.predict(1, False, "zebracorn 100%", api_name="/gallery_list")["total"] == 0  # % is a character

    items, ids, _, caption = demo.panel.page(1, "Mine", "#9002", "gan", False)  # the GAN tab's only
    assert [gallery.get(i).recipe["engine"] for i in ids] == ["gan"] and "1 image found" in caption
    demo.panel.toggle_favourite(ids[0], 1, "Mine", "", "any tab", False)
    _, starred, _, _ = demo.panel.page(1, "Mine", "", "any tab", True)
    assert starred == ids and items[0][1].startswith("#9002")
    assert gallery.get(ids[0]).favourite and "★" in demo.panel.page(1, "Mine")[0][0][1]


def test_making_the_same_grid_again_adds_nothing_and_shows_the_saved_images(served):
    client, gallery, _ = served
    grid = client.predict(777, 3, 0.8, "tiny-gan", api_name="/gan_sample")
    before = gallery.count()
    again = client.predict(777, 3, 0.8, "tiny-gan", api_name="/gan_sample")
    assert gallery.count() == before and [a["caption"] for a in again] == [g["caption"] for g in grid]
    assert [Image.open(a["image"]).tobytes() for a in again] == [Image.open(g["image"]).tobytes() for g in grid]
    client.predict(776, 3, 0.8, "tiny-gan", api_name="/gan_sample")  # seeds 776-778: another grid's recipes
    assert gallery.count() == before + 3


def test_an_xy_plot_saves_its_cells_as_single_runs_and_a_labelled_sheet(served):
    client, gallery, demo = served
    before = gallery.count()
    shown, status = client.predict(
        "a red apple", "", 60, 2, 3.0, "model default", "tiny-ldm", "guidance", "1, 4", "seed", "60-62",
        api_name="/text_xy_plot",
    )  # fmt: skip
    assert "2 × 3 cells" in status and gallery.count() == before + 6 + 1
    assert [item["caption"] for item in shown] == ["X/Y plot"] + [
        f"seed {s} · guidance {g}" for s in (60, 61, 62) for g in (1, 4)
    ]
    sheet = read_recipe(shown[0]["image"])
    assert sheet["operation"] == "xy_plot" and sheet["params"]["x_values"] == "1, 4" and sheet["params"]["cells"] == 6
    assert Image.open(shown[0]["image"]).width > 2 * 128  # cells enlarged, with room for the labels
    (alone,), _ = client.predict(
        "a red apple", "", 61, 1, 2, 4.0, "model default", "tiny-ldm", api_name="/text_to_image"
    )
    assert Image.open(alone["image"]).tobytes() == Image.open(shown[4]["image"]).tobytes()  # a cell is a single run

    settings = restored(demo, gallery.get(Path(shown[0]["image"]).stem).id)  # the whole plot comes back
    assert (settings["x_axis"], settings["x_values"], settings["y_values"], settings["seed"]) == (
        "guidance",
        "1, 4",
        "60-62",
        60,
    )
    before = gallery.count()
    words, status = client.predict(
        "a red apple", "", 5, 2, 3.0, "Euler", "tiny-ldm", "prompt S/R", "red, blue", "none", "", False, False,
        api_name="/text_xy_plot",
    )  # fmt: skip
    assert gallery.count() == before + 1 and "the sheet alone" in status  # cells shown, not kept
    assert read_recipe(words[0]["image"])["params"]["keep_cells"] is False
    assert [item["caption"] for item in words[1:]] == ["red", "blue"]
    kept, _ = client.predict(
        "a red apple",
        "",
        5,
        2,
        3.0,
        "Euler",
        "tiny-ldm",
        "prompt S/R",
        "red, blue",
        "none",
        "",
        api_name="/text_xy_plot",
    )
    assert [read_recipe(k["image"])["prompt"] for k in kept[1:]] == ["a red apple", "a blue apple"]
    for x_axis, x_values, message in (
        ("prompt S/R", "green, blue", "has no 'green'"),
        ("guidance", "1, 99", "guidance"),
        ("steps", "1-40", "at most 8"),
        ("scheduler", "Warp", "unknown scheduler"),
        ("colour", "red", "must be one of none, seed"),
    ):
        with pytest.raises(Exception, match=message):
            client.predict(
                "a red apple",
                "",
                5,
                2,
                3.0,
                "Euler",
                "tiny-ldm",
                x_axis,
                x_values,
                "none",
                "",
                api_name="/text_xy_plot",
            )


def test_gan_and_conditional_xy_plots_cells_are_single_images_of_their_grids(served):
    """The GAN tab plots seeds and ψ, the class-conditional tab classes too; each cell is the image a
    Sample grid of one makes, and reuse settings brings the whole plot back."""
    client, gallery, demo = served
    before = gallery.count()
    shown, status = client.predict(40, 0.8, "tiny-gan", "ψ", "0.5, 1", "seed", "40-42", api_name="/gan_xy_plot")
    assert gallery.count() == before + 6 + 1 and "2 × 3 cells and the sheet saved" in status
    assert [item["caption"] for item in shown] == ["X/Y plot"] + [
        f"seed {s} · ψ {p:g}" for s in (40, 41, 42) for p in (0.5, 1)
    ]
    (alone,) = client.predict(41, 1, 1.0, "tiny-gan", api_name="/gan_sample")
    assert Image.open(alone["image"]).tobytes() == Image.open(shown[4]["image"]).tobytes()
    settings = restored(demo, gallery.get(Path(shown[0]["image"]).stem).id)
    assert (settings["tab"], settings["mode"], settings["plot_seed"], settings["x_values"]) == (
        "gan",
        "xy_plot",
        40,
        "0.5, 1",
    )

    before = gallery.count()
    shown, _ = client.predict(
        "food", "any", 7, 0.9, "tiny-cgan", "style", "all", "category", "Smileys, animals", True, False,
        api_name="/conditional_xy_plot",
    )  # fmt: skip
    assert gallery.count() == before + 1  # the sheet alone
    assert [item["caption"] for item in shown[1:]] == [
        f"{c} · {s}" for c in ("Smileys", "Animals") for s in ("Flat", "3D")
    ]
    sheet = read_recipe(shown[0]["image"])
    assert sheet["operation"] == "xy_plot" and sheet["params"]["labels"] == {"category": "food", "style": "any"}
    assert sheet["hires"] and Image.open(shown[0]["image"]).width >= 2 * 64  # Hires ×4 cells
    settings = restored(demo, gallery.get(Path(shown[0]["image"]).stem).id)
    assert (settings["first"], settings["x_axis"], settings["y_values"]) == ("food", "style", "Smileys, animals")
    plain, _ = client.predict(
        "food", "any", 7, 0.9, "tiny-cgan", "style", "flat", "none", "", api_name="/conditional_xy_plot"
    )
    (sample,) = client.predict("food", "flat", 7, 1, 0.9, "tiny-cgan", api_name="/conditional_sample")
    assert Image.open(sample["image"]).tobytes() == Image.open(plain[1]["image"]).tobytes()
    for args, message in (
        (("style", "all", "category", "all", False, True), None),
        (("style", "oil", "none", "", False, True), "unknown style 'oil'"),
        (("ψ", "0.5, 9", "none", "", False, True), "ψ"),
        (("colour", "red", "none", "", False, True), "an axis is one of none, seed, ψ, category, style"),
        (("seed", "1", "seed", "2", False, True), "must differ"),
    ):
        if message is None:  # 2 × 3 cells: fine; the test asks for every class of both sets
            shown, _ = client.predict("any", "any", 1, 0.8, "tiny-cgan", *args, api_name="/conditional_xy_plot")
            assert len(shown) == 1 + 2 * 3
            continue
        with pytest.raises(Exception, match=message):
            client.predict("any", "any", 1, 0.8, "tiny-cgan", *args, api_name="/conditional_xy_plot")
    with pytest.raises(Exception, match="a plot holds up to 32"):
        client.predict(1, 0.8, "tiny-gan", "seed", "0-7", "ψ", "0, 0.2, 0.4, 0.6, 0.8", api_name="/gan_xy_plot")


def test_gan_style_mix_sheet_and_cells_are_saved_and_a_cell_is_remade_by_its_seeds(served):
    client, gallery, demo = served
    before = gallery.count()
    shown, status = client.predict("3, 4", "7-9", 2, 0.9, "tiny-stylegan", api_name="/gan_style_mix")
    assert gallery.count() == before + 2 + 3 + 2 * 3 + 1 and "2 × 3, cells and the sheet saved" in status
    assert "Rows give layers 1–2 (4–8 px" in status
    assert [item["caption"] for item in shown] == ["style mixing", "#7", "#8", "#9"] + [
        caption for r in (3, 4) for caption in (f"#{r}", *(f"#{r} × #{c}" for c in (7, 8, 9)))
    ]
    sheet = read_recipe(shown[0]["image"])
    assert sheet["operation"] == "style_mix_sheet" and sheet["params"]["row_seeds"] == [3, 4]
    (alone,) = client.predict(9, 1, 0.9, "tiny-stylegan", api_name="/gan_sample")  # a column seed alone
    assert Image.open(alone["image"]).tobytes() == Image.open(shown[3]["image"]).tobytes()
    cell, _ = client.predict("4", "8", 2, 0.9, "tiny-stylegan", api_name="/gan_style_mix")  # one cell alone
    assert Image.open(cell[-1]["image"]).tobytes() == Image.open(shown[-2]["image"]).tobytes()
    settings = restored(demo, gallery.get(Path(shown[6]["image"]).stem).id)  # the cell #3 × #9
    assert (settings["tab"], settings["mode"], settings["mix_rows"], settings["mix_columns"]) == (
        "gan",
        "style_mix",
        "3, 4",
        "7, 8, 9",
    )
    assert settings["crossover"] == 2 and settings["model"] == "tiny-stylegan"
    for args, message in (
        (("0-7, 9", "1"), "1 to 8 row seeds, not 9"),
        (("0-8", "1"), "at most 8"),
        (("", "1"), "give the row seeds"),
        (("1", "x"), "column"),
        (("1", "2", 0), "crossover"),
        (("1", "2", 3, 0.8, "tiny-gan"), "DCGAN"),
    ):
        before = gallery.count()
        with pytest.raises(Exception, match=message):
            client.predict(*args, *(2, 0.8, "tiny-stylegan")[len(args) - 2 :], api_name="/gan_style_mix")
        assert gallery.count() == before


def test_inpaint_keeps_the_image_and_its_mask_and_denoise_scores_the_noise(served, sample_png, tmp_path):
    client, gallery, demo = served
    mask = tmp_path / "mask.png"
    painted = Image.new("L", Image.open(sample_png).size, 0)
    painted.paste(255, (20, 15, 50, 40))
    painted.save(mask)
    images, status = client.predict(
        handle_file(str(sample_png)), handle_file(str(mask)), "a face", "", 11, 2, 2, 3.0, "Euler", "tiny-ldm",
        api_name="/inpaint",
    )  # fmt: skip
    assert "2 images saved" in status and [item["caption"] for item in images] == ["#11", "#12"]
    entry = gallery.get(Path(images[0]["image"]).stem)
    assert set(entry.recipe["inputs"]) == {"image", "mask"}  # kept with the recipe, as uploads are
    kept_mask = Image.open(gallery.input_path(entry.recipe["inputs"]["mask"]))
    assert np.array_equal(np.asarray(kept_mask.convert("L")) > 127, np.asarray(painted) > 127)
    made = np.asarray(Image.open(images[0]["image"]).convert("RGB"), dtype=int)
    original = np.asarray(Image.open(sample_png).convert("RGB"), dtype=int)
    assert made.shape == original.shape and np.abs(made - original)[:, 55:].max() == 0  # far from the mask
    settings = restored(demo, entry.id)
    assert (settings["tab"], settings["mode"], settings["prompt"], settings["seed"]) == (
        "edit",
        "inpaint",
        "a face",
        11,
    )
    assert settings["editor"] and settings["mask_upload"]  # the image back in the editor, its mask as the upload
    assert settings["edge"] == "seamless"  # the default edge: nothing outside the mask changed
    assert np.abs(made - original)[np.asarray(painted) == 0].max() == 0
    for bad, message in (((40, 40), "the mask is 40×40 px but the image is 80×60"), ((80, 60), "the mask is empty")):
        Image.new("L", bad, 0).save(mask)
        with pytest.raises(Exception, match=message):
            client.predict(
                handle_file(str(sample_png)), handle_file(str(mask)), "", "", 1, 1, 2, 3.0, "Euler", "tiny-ldm",
                api_name="/inpaint",
            )  # fmt: skip

    noisy, cleaned, scores = client.predict(
        handle_file(str(sample_png)), "gaussian", 0.3, 4, "tiny-ldm", api_name="/denoise"
    )
    assert Image.open(noisy).size == Image.open(cleaned).size  # shown enlarged, side by side
    assert "noisy" in scores and "cleaned" in scores and " dB" in scores
    entry = gallery.list()[0]
    assert entry.recipe["operation"] == "denoise" and entry.recipe["params"]["noise"] == "gaussian"
    assert entry.recipe["metrics"]["psnr"] > 0
    _, _, scores = client.predict(handle_file(str(sample_png)), "none", 0.3, 4, "tiny-ldm", api_name="/denoise")
    assert "no clean original" in scores


def test_the_prompt_history_has_a_row_per_prompt_not_per_batch_or_cell(served):
    client, _, demo = served
    history = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "history")
    client.predict("an old boot", "", 1, 1, 2, 3.0, "Euler", "tiny-ldm", False, 1, False, api_name="/text_to_image")
    client.predict("a green kite", "", 5, 1, 2, 3.0, "Euler", "tiny-ldm", False, 3, False, api_name="/text_to_image")
    client.predict(
        "a green kite", "", 9, 2, 3.0, "Euler", "tiny-ldm", "guidance", "1, 4", "seed", "9-10",
        api_name="/text_xy_plot",
    )  # fmt: skip
    rows = history()
    assert [row[0] for row in rows[:2]] == ["a green kite", "an old boot"]  # 3 batches and 4 cells: one row
    assert rows[0][2:4] == [10, 1] and rows[0][5] == 4.0  # the newest image's settings: the plot's last cell


def test_the_prompt_history_survives_a_restart(tiny_checkpoints, tmp_path):
    """History is read from the gallery at each page load, so a new server on the same folder has it."""
    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    first = Gallery(tmp_path / "gallery")
    demo = app.build_app(engines, first)
    history = lambda demo: next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "history")  # noqa: E731
    text_to_image = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "text_to_image")
    list(text_to_image("a paper boat", "", 3, 1, 2, 3.0, "model default", "tiny-ldm"))
    first.close()
    again = app.build_app(engines, Gallery(tmp_path / "gallery"))  # a restart
    assert history(again)()[0][:3] == ["a paper boat", "", 3]


def test_seed_sweep_goes_past_one_batch(served):
    client, _, _ = served
    images, status = client.predict("rocket", "", 5, 10, 2, 0.0, "Euler", "tiny-ldm", api_name="/text_seed_sweep")
    assert [item["caption"] for item in images] == [f"#{s}" for s in range(5, 15)] and "10 images" in status


def test_stop_ends_a_run_and_saves_nothing_half_made(served):
    client, gallery, _ = served
    before = gallery.count()
    job = client.submit("a slow cat", "", 0, 8, 100, 3.0, "model default", "tiny-ldm", api_name="/text_to_image")
    while job.status().code.name != "ITERATING":  # wait until it has started denoising
        time.sleep(0.05)
    client.predict(api_name="/text_stop")
    images, status = job.result(timeout=120)
    assert all(item["caption"] == "stopped · not saved" for item in images)  # the last preview, if any
    assert "stopped at step" in status and "nothing was saved" in status and gallery.count() == before


def test_batch_count_draws_batch_after_batch_from_the_next_seeds(served):
    client, gallery, _ = served
    before = gallery.count()
    images, status = client.predict(
        "a cat", "", 40, 2, 2, 3.0, "model default", "tiny-ldm", False, 3, api_name="/text_to_image"
    )
    assert [item["caption"] for item in images] == [f"#{s}" for s in range(40, 46)] and "6 images saved" in status
    assert [read_recipe(i["image"])["params"]["batch_seed"] for i in images] == [40, 40, 42, 42, 44, 44]
    assert gallery.count() == before + 6
    with pytest.raises(Exception, match="batches must be a whole number from 1 to 16"):
        client.predict("a cat", "", 40, 2, 2, 3.0, "model default", "tiny-ldm", False, 99, api_name="/text_to_image")


def test_until_stop_keeps_drawing_and_stop_keeps_the_finished_batches(served):
    client, gallery, _ = served
    before = gallery.count()
    job = client.submit(
        "a cat", "", 100, 1, 2, 3.0, "model default", "tiny-ldm", False, 1, True, api_name="/text_to_image"
    )
    deadline = time.monotonic() + 120
    while gallery.count() < before + 3 and time.monotonic() < deadline:  # three batches saved, and counting
        time.sleep(0.05)
    client.predict(api_name="/text_stop")
    images, status = job.result(timeout=120)
    kept = [item for item in images if item["caption"] != "stopped · not saved"]
    assert len(kept) >= 3 and "stopped" in status and f"{len(kept)} images saved" in status
    assert [item["caption"] for item in kept] == [f"#{s}" for s in range(100, 100 + len(kept))]
    assert gallery.count() == before + len(kept)  # only finished images were saved


def test_png_info_reads_our_pngs_and_a1111_pngs_and_sends_them_to_the_text_tab(served, tmp_path):
    from PIL import PngImagePlugin

    client, _, demo = served
    send = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "send")
    made, _ = client.predict("a fox", "blurry", 70, 2, 3, 5.0, "Euler a", "tiny-ldm", api_name="/text_to_image")
    table, found = client.predict(handle_file(made[1]["image"]), api_name="/png_info")
    assert found["source"] == "Atelier" and found["seed"] == 71 and found["recipe"]["params"]["index"] == 1
    assert "| prompt | a fox |" in table and "| seed | 71 |" in table
    settings = send(made[1]["image"])
    assert settings == ["a fox", "blurry", 71, 3, 5.0, "Euler a", "tiny-ldm"]
    (again,), _ = client.predict(*settings[:3], 1, *settings[3:], api_name="/text_to_image")
    alone, in_batch = (np.asarray(Image.open(f), dtype=np.int16) for f in (again["image"], made[1]["image"]))
    assert np.abs(alone - in_batch).max() <= 2  # the same image (batched matmuls round a little differently)

    info = PngImagePlugin.PngInfo()  # what AUTOMATIC1111 writes
    info.add_text(
        "parameters",
        "a cat in a hat | ok\nNegative prompt: lowres\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, "
        "Seed: 1234, Size: 512x512, Model hash: abcdef1234, Model: v1-5-pruned",
    )
    a1111 = tmp_path / "a1111.png"
    Image.new("RGB", (64, 64)).save(a1111, pnginfo=info)
    table, found = client.predict(handle_file(str(a1111)), api_name="/png_info")
    assert found["source"] == "AUTOMATIC1111" and found["model"] == "v1-5-pruned" and found["recipe"] is None
    assert "| prompt | a cat in a hat \\| ok |" in table  # a | in a prompt stays in its cell
    no_such_model = gr.skip()
    assert send(str(a1111)) == ["a cat in a hat | ok", "lowres", 1234, 20, 7.0, "DPM-Solver++", no_such_model]

    bare = tmp_path / "bare.png"
    Image.new("RGB", (64, 64)).save(bare)
    with pytest.raises(Exception, match="carries no recipe"):
        client.predict(handle_file(str(bare)), api_name="/png_info")


def test_empty_prompt_is_allowed_and_guidance_nan_is_refused(served):
    client, _, demo = served
    images, _ = client.predict("", "", 1, 1, 2, 0.0, "model default", "tiny-ldm", api_name="/text_to_image")
    assert len(images) == 1 and read_recipe(images[0]["image"])["prompt"] == ""
    with pytest.raises(gr.Error, match="guidance"):
        list(handler(demo, "text_to_image")("cat", "", 1, 1, 2, math.nan, "model default", "tiny-ldm"))


def test_conditional_endpoints_and_reuse(served):
    client, gallery, demo = served
    before = gallery.count()
    grid = client.predict("animals", "any", 3, 4, 0.8, "tiny-cgan", api_name="/conditional_sample")
    assert [item["caption"] for item in grid] == [f"#{s} · Animals" for s in range(3, 7)]
    assert read_recipe(grid[0]["image"])["params"]["labels"] == {"category": "animals", "style": "any"}
    classes = client.predict(9, 2, 0.8, "tiny-cgan", api_name="/conditional_class_grid")
    assert len(classes) == (3 + 2) * 2 and classes[0]["caption"] == "Smileys"
    strip, gif = client.predict(
        "style", "flat", "3d", "food", "any", 4, 5, 1.0, "tiny-cgan", api_name="/conditional_morph"
    )
    assert Image.open(strip).size == (3 * 16, 2 * 16) and Image.open(gif).is_animated
    assert gallery.count() == before + 4 + 10 + 1

    settings = restored(demo, gallery.list()[0].id)  # the morph
    assert settings["tab"] == "conditional" and settings["mode"] == "morph"
    assert (settings["morph_set"], settings["morph_from"], settings["morph_to"]) == ("style", "flat", "3d")
    assert settings["first"] == "food" and settings["frames"] == 5
    sample = next(e for e in gallery.list(1, 50) if e.recipe.get("operation") == "sample" and e.recipe["seed"] == 4)
    settings = restored(demo, sample.id)
    assert (settings["first"], settings["seed"], settings["count"]) == ("animals", 3, 4)


def test_a_class_grid_can_be_saved_as_one_labelled_sheet(served):
    client, gallery, demo = served
    grid = client.predict(21, 3, 0.8, "tiny-cgan", False, False, api_name="/conditional_class_grid")
    before = gallery.count()
    (sheet,) = client.predict(21, 3, 0.8, "tiny-cgan", False, True, api_name="/conditional_class_grid")
    assert gallery.count() == before + 1 and sheet["caption"] == "every class, one sheet"
    image, recipe = Image.open(sheet["image"]), read_recipe(sheet["image"])
    assert recipe["operation"] == "class_sheet" and recipe["params"] == {"seed": 21, "count": 3, "psi": 0.8}
    assert image.width > 3 * 128 and image.height > (3 + 2) * 128  # 5 class rows of 3 seeds, enlarged and labelled
    # the sheet's cell (row 2, column 3) is the grid's image, enlarged with sharp pixels
    cell = Image.open(grid[1 * 3 + 2]["image"]).convert("RGB").resize((128, 128), Image.Resampling.NEAREST)
    x, y = image.width - (128 + 6), (14 + 2 * 6) + 6 + (128 + 6)  # labelled_grid: 6 px apart, 14 px labels above
    assert image.crop((x, y, x + 128, y + 128)).tobytes() == cell.tobytes()
    settings = restored(demo, gallery.get(Path(sheet["image"]).stem).id)
    assert (settings["mode"], settings["grid_seed"], settings["grid_count"], settings["as_sheet"]) == (
        "class_grid",
        21,
        3,
        True,
    )


def test_a_model_with_subjects_keeps_its_two_pickers_and_reuse_remakes_the_grid(served):
    """Subjects are drawn from each seed: the API takes category and style, and reusing an image's
    settings draws the same subjects again, so the grid comes back bit for bit."""
    client, gallery, demo = served
    grid = client.predict("animals", "flat", 3, 4, 0.8, "tiny-cgan-subjects", api_name="/conditional_sample")
    recipes = [read_recipe(item["image"]) for item in grid]
    assert {r["params"]["labels"]["subject"] for r in recipes} <= {"cat", "dog"}
    settings = restored(demo, gallery.list()[0].id)
    args = [settings[k] for k in ("first", "second", "seed", "count", "psi", "model")]
    again = client.predict(*args, api_name="/conditional_sample")
    assert [np.asarray(Image.open(a["image"])).tolist() for a in again] == [
        np.asarray(Image.open(g["image"])).tolist() for g in grid
    ]


def test_dit_by_local_path_and_reuse(served, tiny_dit):
    client, gallery, demo = served
    images, status = client.predict("goldfish", 3, 2, 2, 4.0, str(tiny_dit), api_name="/dit_sample")
    assert [item["caption"] for item in images] == ["#3 · goldfish", "#4 · goldfish"] and "saved" in status
    settings = restored(demo, gallery.list()[0].id)
    assert (settings["tab"], settings["mode"], settings["dit_label"]) == ("conditional", "dit", "goldfish")
    with pytest.raises(Exception, match="out of range"):
        client.predict("9999", 3, 1, 2, 4.0, str(tiny_dit), api_name="/dit_sample")
    with pytest.raises(Exception, match="unavailable"):
        client.predict("tench", 3, 1, 2, 4.0, "facebook/DiT-XL-2-256", api_name="/dit_sample")


def pixels(path) -> list:
    return np.asarray(Image.open(path).convert("RGB")).tolist()


def upload(path: str, tmp_path) -> dict:
    """A file for an image input, as the page would send it (the same bytes, uploaded anew)."""
    copy = tmp_path / f"upload-{time.monotonic_ns()}.png"
    copy.write_bytes(Path(path).read_bytes())
    return handle_file(str(copy))


# One call per operation of every tab: (endpoint, its arguments). Uploads are named by fixture.
EVERY_OPERATION = [
    ("/vae_reconstruct", ("SAMPLE_PNG", "tiny-vae")),
    ("/vae_interpolate", ("SAMPLE_PNG", "BLUE_PNG", 4, "tiny-vae")),
    ("/vae_sample", (70, 3, "tiny-vae")),
    ("/gan_sample", (80, 5, 0.9, "tiny-gan")),
    ("/gan_variations", (81, 0.9, 0.4, 3, 7, "tiny-gan")),
    ("/gan_interpolate", (82, 90, 5, 1.1, "tiny-gan")),
    ("/conditional_sample", ("animals", "3d", 83, 4, 0.7, "tiny-cgan")),
    ("/conditional_sample", ("food", "any", 84, 3, 1.0, "tiny-cgan-subjects")),
    ("/conditional_class_grid", (85, 2, 0.9, "tiny-cgan")),
    ("/conditional_class_grid", (85, 2, 0.9, "tiny-cgan", False, True)),
    ("/conditional_morph", ("style", "flat", "3d", "food", "any", 86, 4, 1.0, "tiny-cgan")),
    ("/conditional_morph", ("category", "smileys", "food", "any", "flat", 87, 3, 0.8, "tiny-cgan")),
    ("/dit_sample", ("goldfish", 88, 2, 2, 3.5, "TINY_DIT")),
    ("/text_to_image", ("a red apple", "blurry", 89, 3, 3, 5.5, "Euler", "tiny-ldm")),
    ("/text_seed_sweep", ("a rocket", "", 90, 10, 2, 0.0, "UniPC", "tiny-ldm")),
    ("/text_xy_plot", ("a red apple", "", 98, 2, 3.0, "Euler", "tiny-ldm", "guidance", "1, 4", "steps", "1-2")),
    ("/gan_xy_plot", (99, 0.8, "tiny-gan", "ψ", "0.5, 1", "none", "")),
    ("/gan_style_mix", ("0, 1", "2-4", 3, 0.8, "tiny-stylegan")),
    ("/conditional_xy_plot", ("food", "any", 100, 0.8, "tiny-cgan", "style", "all", "seed", "100-101")),
    # Hires ×4 (the last argument) on an operation of every tab, and the Upscale tab's own
    ("/vae_sample", (71, 2, "tiny-vae", True)),
    ("/gan_sample", (91, 3, 0.9, "tiny-gan", True)),
    ("/gan_interpolate", (92, 93, 3, 1.0, "tiny-gan", True)),
    ("/gan_style_mix", ("5", "6, 7", 2, 1.0, "tiny-stylegan", True, False)),
    ("/conditional_morph", ("style", "flat", "3d", "food", "any", 94, 3, 1.0, "tiny-cgan", True)),
    ("/dit_sample", ("tench", 95, 1, 2, 3.5, "TINY_DIT", True)),
    ("/text_to_image", ("a blue cat", "", 96, 2, 2, 3.0, "model default", "tiny-ldm", True)),
    ("/inpaint", ("SAMPLE_PNG", "MASK_PNG", "a face", "", 102, 2, 2, 3.0, "Euler", "tiny-ldm")),
    ("/inpaint", ("SAMPLE_PNG", "MASK_PNG", "", "", 103, 1, 2, 0.0, "model default", "tiny-ldm", True)),
    ("/inpaint", ("SAMPLE_PNG", "MASK_PNG", "a face", "", 107, 2, 2, 3.0, "Euler", "tiny-ldm", False, "soft")),
    ("/denoise", ("SAMPLE_PNG", "jpeg", 0.5, 104, "tiny-ldm")),
    ("/upscale", ("SAMPLE_PNG", None, "tiny-upscale")),
    ("/upscale", ("BLUE_PNG", None, "TINY_SD_X4", "a blue square", 97)),  # the SD ×4 upscaler's classes
    ("/restyle", ("SAMPLE_PNG", "all", "tiny-restyle", 0.7, "auto")),
    ("/restyle", ("BLUE_PNG", "fluent-3d", "tiny-restyle", 1.0, "noto", True)),
    ("/image_to_image", ("SAMPLE_PNG", "a red cat", 0.5, 105, 4, 3.0, "tiny-ldm", "", 2)),
    ("/image_to_image", ("BLUE_PNG", "a blue cat", 0.8, 106, 2, 0.0, "tiny-ldm", "", 1, True)),
    # seed -1: a random seed, which the recipe keeps
    ("/gan_sample", (-1, 3, 0.9, "tiny-gan", False)),
    ("/text_to_image", ("a red apple", "", -1, 2, 2, 3.0, "Euler", "tiny-ldm", False)),
]


@pytest.mark.parametrize(("endpoint", "args"), EVERY_OPERATION, ids=[f"{e}{a[-1]}" for e, a in EVERY_OPERATION])
def test_reuse_settings_remakes_the_same_pixels_for_every_operation(
    served, endpoint, args, sample_png, tiny_dit, tiny_sd_upscaler, tmp_path
):
    """Make images, reuse the settings of the last one saved (as the page applies them), make them again
    through the operation's own endpoint, and compare the remade image with the original, pixel for pixel."""
    client, gallery, demo = served
    blue, mask = tmp_path / "blue.png", tmp_path / "mask.png"
    Image.new("RGB", (50, 50), (20, 40, 220)).save(blue)
    painted = Image.new("L", Image.open(sample_png).size, 0)
    painted.paste(255, (20, 15, 50, 40))  # white: repaint
    painted.save(mask)
    named = {
        "SAMPLE_PNG": handle_file(str(sample_png)),
        "BLUE_PNG": handle_file(str(blue)),
        "MASK_PNG": handle_file(str(mask)),
        "TINY_DIT": str(tiny_dit),
        "TINY_SD_X4": str(tiny_sd_upscaler),
    }
    before = gallery.count()
    client.predict(*[named.get(a, a) if isinstance(a, str) else a for a in args], api_name=endpoint)
    made = gallery.count() - before
    original = gallery.list()[0]  # the newest: the last image of a grid, the strip of a walk

    tab, values = demo.panel.settings(original.id)
    operation = tab.operations[original.recipe["operation"]]
    assert set(operation.inputs) <= set(values), "a restore sets every input of the operation"
    settings = restored(demo, original.id)
    again = [settings[name] for name in operation.inputs]
    again = [upload(v, tmp_path) if isinstance(v, str) and v.endswith(".png") else v for v in again]
    before = gallery.count()
    client.predict(*again, api_name=f"/{operation.api_name}")
    remade = gallery.list(1, gallery.count() - before)
    same = [e for e in remade if e.recipe["seed"] == original.recipe["seed"]]
    if len(same) > 1:  # variations share their seed: the index tells them apart
        same = [e for e in same if e.recipe["params"].get("index") == original.recipe["params"].get("index")]
    assert same, f"the remade images ({len(remade)} of {made}) hold none with the original's seed"
    assert pixels(same[0].path) == pixels(original.path)
    without_index = [{k: v for k, v in r["params"].items() if k != "index"} for r in (same[0].recipe, original.recipe)]
    assert without_index[0] == without_index[1] and same[0].recipe["model"] == original.recipe["model"]


def test_the_page_is_built_without_torch_or_a_model(tiny_checkpoints, tmp_path):
    """`import app` and building the page import no torch and load no model: the page is served first."""
    script = f"""
import sys
from pathlib import Path
import app
from engines import Engines
from engines.registry import Registry
from gallery import Gallery
demo = app.build_app(Engines(Registry(Path({str(tiny_checkpoints)!r}))), Gallery(Path({str(tmp_path / "g")!r})))
assert "torch" not in sys.modules, "torch imported"
assert {{"gan", "conditional", "vae", "text"}} <= set(demo.tasks)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_a_click_before_its_model_is_loaded_says_so(tiny_checkpoints, tmp_path):
    from ui.studio import LOADING, Studio

    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    studio = Studio(engines, Gallery(tmp_path / "g"))
    said = []
    progress = lambda value, desc=None: said.append(desc)  # noqa: E731  (gr.Progress's signature)
    request = dict(seed=0, count=1, psi=1.0, model_id="tiny-gan")
    studio.run("gan", "sample", progress, **request)
    studio.run("gan", "sample", progress, **request)  # loaded now: nothing to say
    assert said == [LOADING]
    run = dict(prompt="a cat", negative_prompt="", seed=0, count=1, steps=2, guidance_scale=3.0)
    run |= dict(scheduler="model default", model_id="tiny-ldm")
    statuses = [status for _, status in studio.draw("text", [run], None)]
    assert statuses[0] == LOADING and "saved" in statuses[-1]
    assert LOADING not in [status for _, status in studio.draw("text", [run], None)]
    studio.gallery.close()


def test_upscale_a_file_or_a_gallery_image_and_hires_grids(served, sample_png):
    client, gallery, _ = served
    before, after, info = client.predict(handle_file(str(sample_png)), None, "tiny-upscale", api_name="/upscale")
    assert Image.open(after).size == Image.open(before).size == (320, 240) and "80×60 → 320×240 px" in info
    grid = client.predict(30, 2, 0.8, "tiny-gan", True, api_name="/gan_sample")
    assert [Image.open(item["image"]).size for item in grid] == [(64, 64)] * 2
    recipe = read_recipe(grid[1]["image"])
    assert (
        recipe["hires"]["upscaler"] == "tiny-upscale"
        and "Hires upscale: 4" in Image.open(grid[1]["image"]).info["parameters"]
    )
    source = gallery.list()[0]
    _, after, info = client.predict(None, source.id, "tiny-upscale", api_name="/upscale")
    entry = gallery.list()[0]
    assert entry.recipe["params"]["source"] == source.id and Image.open(after).size == (256, 256) and entry.id in info
    for args, message in (
        ((None, "20990101-000000-nothere", "tiny-upscale"), "no image"),
        ((None, None, "tiny-upscale"), "upload an image"),
        ((None, source.id, "no-such-upscaler"), "unknown upscale model"),
    ):
        count = gallery.count()
        with pytest.raises(Exception, match=message):
            client.predict(*args, api_name="/upscale")
        assert gallery.count() == count
    with pytest.raises(Exception, match="Hires"):
        client.predict(30, 2, 0.8, "tiny-gan", "yes", api_name="/gan_sample")


def test_the_seed_reuse_button_puts_back_the_seed_a_random_run_used(served):
    client, gallery, demo = served
    client.predict(-1, 2, 0.8, "tiny-gan", False, api_name="/gan_sample")
    used = gallery.list()[0].recipe["params"]["batch_seed"]
    gan = next(tab for tab in demo.panel.tabs if tab.id == "gan")
    field = gan.controls["seed"]
    (click,) = [fn for fn in demo.fns.values() if fn.outputs == [field] and fn.name == "last_seed"]
    assert click.fn() == used  # no request: an in-process call, in a local gallery
    assert gan.controls["seed_a"].reuse.visible  # the walk's seeds have their own


def test_restyle_into_every_set_then_reuse_gives_the_same_pixels(served, sample_png):
    client, gallery, demo = served
    shown, info = client.predict(handle_file(str(sample_png)), "all", "tiny-restyle", 1.0, "auto", False,
                                 api_name="/restyle")  # fmt: skip
    assert len(shown) == 2 and "(detected)" in info and "saved" in info and "?" not in info
    assert f"→ {shown[0]['caption']}, {shown[1]['caption']}, strength 1" in info  # the sets by their titles
    entry = gallery.get(Path(shown[1]["image"]).stem)
    assert entry.recipe["engine"] == "restyle" and set(entry.recipe["inputs"]) == {"image"}
    assert shown[1]["caption"] == entry.recipe["label"]  # the set it is drawn in, in words
    settings = restored(demo, entry.id)
    assert (settings["tab"], settings["mode"], settings["source"]) == ("restyle", "restyle", "auto")
    names = ("image", "target", "model", "strength", "source", "hires")
    again, _ = client.predict(handle_file(settings["image"]), *[settings[n] for n in names[1:]], api_name="/restyle")
    assert again[0]["caption"] == shown[1]["caption"]
    assert Image.open(again[0]["image"]).tobytes() == Image.open(shown[1]["image"]).tobytes()
    hires, _ = client.predict(handle_file(str(sample_png)), "noto", "tiny-restyle", 0.5, "twemoji", True,
                              api_name="/restyle")  # fmt: skip
    assert Image.open(hires[0]["image"]).size == (64, 48)  # 16×12, ×4
    for args, message in (
        (("sepia", "tiny-restyle", 1.0, "auto", False), "target art set is one of"),
        (("noto", "tiny-restyle", 2, "auto", False), "strength must be"),
        (("noto", "no-such-translator", 1.0, "auto", False), "unknown restyle model"),
    ):
        count = gallery.count()
        with pytest.raises(Exception, match=message):
            client.predict(handle_file(str(sample_png)), *args, api_name="/restyle")
        assert gallery.count() == count
    with pytest.raises(Exception, match="upload an image"):
        client.predict(None, "noto", "tiny-restyle", 1.0, "auto", False, api_name="/restyle")


def test_image_to_image_saves_seeded_redraws_and_reuse_restores_them(served, sample_png, tmp_path):
    client, gallery, demo = served
    images, status = client.predict(
        handle_file(str(sample_png)), "a red cat", 0.5, 21, 4, 3.0, "tiny-ldm", "", 2, False,
        api_name="/image_to_image",
    )  # fmt: skip
    assert "2 images saved" in status and [item["caption"] for item in images] == ["#21", "#22"]
    entry = gallery.get(Path(images[0]["image"]).stem)
    assert entry.recipe["operation"] == "image_to_image" and set(entry.recipe["inputs"]) == {"image"}
    settings = restored(demo, entry.id)
    assert (settings["tab"], settings["mode"], settings["prompt"], settings["i2i_strength"]) == (
        "restyle", "image_to_image", "a red cat", 0.5,
    )  # fmt: skip
    names = ("prompt", "i2i_strength", "seed", "steps", "guidance", "i2i_model", "negative", "count", "i2i_hires")
    again, _ = client.predict(handle_file(settings["i2i_image"]), *[settings[n] for n in names],
                              api_name="/image_to_image")  # fmt: skip
    assert [Image.open(a["image"]).tobytes() for a in again] == [Image.open(i["image"]).tobytes() for i in images]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    refused = ((sample_png, 0.0, "strength must be"), (broken, 0.5, "not an image that can be read"))
    for image, strength, message in refused:
        count = gallery.count()
        with pytest.raises(Exception, match=message):
            client.predict(handle_file(str(image)), "a cat", strength, 1, 4, 3.0, "tiny-ldm", "", 1, False,
                           api_name="/image_to_image")  # fmt: skip
        assert gallery.count() == count


def test_without_a_translator_restyle_offers_image_to_image_and_sends_there(tiny_checkpoints, tmp_path):
    import shutil

    checkpoints = tmp_path / "checkpoints"
    for name in ("tiny-ldm", "tiny-upscale"):
        shutil.copytree(tiny_checkpoints / name, checkpoints / name)
    engines = create_engines(Registry(checkpoints), Runtime(torch.device("cpu"), torch.float32))
    demo = app.build_app(engines, Gallery(tmp_path / "gallery"))
    (restyle,) = [tab for tab in demo.panel.tabs if tab.id == "restyle"]
    assert restyle.image_input == ("i2i_image", "image_to_image")  # not the hidden Art sets sub-tab
