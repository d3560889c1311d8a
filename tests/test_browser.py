"""Browser level: headless Chromium (Debian's, driven by Playwright) clicks through the VAE tab."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import app
from engines import create_engines
from engines.registry import Registry
from engines.runtime import Runtime
from gallery import Gallery

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow]
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs {CHROMIUM} for the browser tests: run tests/install.sh")
    pytest.skip(f"{CHROMIUM} is not installed (tests/install.sh installs it)", allow_module_level=True)

# Flags for a closed network: no background requests, no first-run, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def studio(tiny_checkpoints, tmp_path):
    """(the page's address, its gallery)."""
    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    gallery = Gallery(tmp_path / "gallery")
    demo = app.build_app(engines, gallery)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(demo))
    yield url, gallery
    demo.close()
    gallery.close()


@pytest.fixture
def studio_url(studio):
    return studio[0]


def value_of(page, label: str) -> str:
    return page.get_by_label(label, exact=True).filter(visible=True).first.input_value()


def reuse_newest(page) -> None:
    """Select the newest image in the gallery panel and reuse its settings."""
    page.locator("#gallery-view img").first.click()
    page.get_by_text('"operation"').wait_for(timeout=15_000)
    page.get_by_role("button", name="↺ Reuse settings").click()
    page.get_by_text("restored").first.wait_for(timeout=15_000)


def test_upload_reconstruct_and_find_it_in_the_gallery_after_reload(browser, studio_url, sample_png, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(studio_url)
    gallery_images = page.locator("#gallery-view img")
    page.get_by_role("tab", name="VAE", exact=True).click()
    page.get_by_role("button", name="Reconstruct", exact=True).wait_for()
    assert gallery_images.count() == 0

    page.locator("#vae-image input[type=file]").set_input_files(str(sample_png))
    page.locator("#vae-image img").first.wait_for()  # the upload is shown before we click
    page.get_by_role("button", name="Reconstruct", exact=True).click()
    page.get_by_text("PSNR").wait_for(timeout=60_000)
    page.locator("img[alt]").first.wait_for()
    gallery_images.first.wait_for(timeout=30_000)
    assert gallery_images.count() == 1
    page.screenshot(path=str(os.environ.get("ATELIER_SCREENSHOT", tmp_path / "vae-tab.png")), full_page=True)

    page.reload()
    gallery_images.first.wait_for(timeout=30_000)
    assert gallery_images.count() == 1  # still there after a reload

    gallery_images.first.click()  # select: the recipe shows and actions unlock
    page.get_by_text('"operation": "reconstruct"').wait_for(timeout=15_000)

    page.get_by_role("tab", name="VAE", exact=True).click()  # the reload opened the first tab
    page.locator("button[role=tab]:visible", has_text="Interpolate").click()  # the VAE's sub-tab
    walk = page.get_by_role("button", name="Interpolate", exact=True)
    walk.wait_for()
    image_b = page.locator("#vae-image-b").bounding_box()
    assert walk.bounding_box()["y"] - (image_b["y"] + image_b["height"]) < 200  # not below the example pairs
    page.close()


def test_make_a_gan_grid_and_explore_around_an_image(browser, studio_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(studio_url)
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.get_by_label("Seed", exact=True).first.fill("40")
    page.get_by_role("button", name="Generate", exact=True).click()
    grid_images = page.locator("#gan-grid img")
    grid_images.nth(7).wait_for(timeout=60_000)
    assert grid_images.count() == 16

    grid_images.nth(2).click()  # open the third image: its seed goes to "explore"
    page.wait_for_function("document.querySelector('input[aria-label=\"Image seed\"]').value === '42'")
    page.get_by_role("button", name="Explore", exact=True).click()
    page.locator("#gan-variations img").nth(7).wait_for(timeout=60_000)
    page.locator("#gallery-view img").nth(16 + 7).wait_for(timeout=60_000)  # 16 + 8 images saved

    page.get_by_label("Seed", exact=True).first.fill("-1")  # a random grid: the clicked image's seed is its own
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function(
        "document.querySelector('#gan-grid .caption-label')?.innerText !== '#40'", timeout=60_000
    )  # the new grid is in
    caption = page.locator("#gan-grid .caption-label").nth(3).inner_text()  # "#<seed>"
    grid_images.nth(3).click()
    page.wait_for_function(
        f"document.querySelector('input[aria-label=\"Image seed\"]').value === '{caption.removeprefix('#')}'"
    )
    page.screenshot(path=str(os.environ.get("ATELIER_GAN_SCREENSHOT", tmp_path / "gan-tab.png")), full_page=True)

    page.get_by_role("tab", name="X/Y plot", exact=True).click()  # ψ × seeds, as the sub-tab opens
    page.get_by_role("button", name="Plot", exact=True).click()
    page.locator("#gan-plot img").nth(3 * 4).wait_for(timeout=60_000)  # the sheet, then 3 × 4 cells
    assert page.locator("#gan-plot .caption-label").nth(1).inner_text() == "seed 0 · ψ 0.4"
    page.close()


def test_type_a_prompt_generate_and_reuse_it_from_the_history(browser, studio_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(studio_url)
    page.get_by_role("tab", name="Text", exact=True).click()
    page.locator("#text-prompt textarea").fill("a cat astronaut")
    page.locator("#text-prompt textarea").press("Control+Enter")  # the shortcut instead of Generate
    page.get_by_text("images saved to the gallery").wait_for(timeout=60_000)
    assert page.locator("#text-images img").count() == 4
    page.locator("#text-images img").first.click()  # opens big: it was ~80 px, under the thumbnail size
    page.locator("#text-images .preview").wait_for()
    assert page.locator("#text-images .preview .media-button img").bounding_box()["height"] >= 256
    page.locator("#gallery-view img").nth(3).wait_for(timeout=30_000)
    history_cell = page.locator("#text-history").get_by_text("a cat astronaut").filter(visible=True).first
    history_cell.wait_for(timeout=15_000)

    bar = page.locator(".selection-bar").filter(visible=True)  # under the grid, for the image opened
    bar.get_by_text("a cat astronaut").wait_for(timeout=15_000)
    caption = bar.locator(".prose.selection-caption")
    first = caption.inner_text()  # "#<seed> · a cat astronaut"
    page.locator("#text-images .thumbnails button").nth(1).click()  # the second image
    page.wait_for_function("([el, first]) => el.innerText !== first", arg=[caption.element_handle(), first])
    seed = caption.inner_text().split()[0].removeprefix("#")
    recipe = page.locator(".selection-recipe").filter(visible=True)  # the image's whole recipe, folded
    recipe.get_by_text("Recipe").click()
    recipe.get_by_text(f'"seed": {seed},').wait_for(timeout=15_000)
    bar.get_by_role("button", name="🌱 Use this seed").click()  # that image alone
    seed_field = page.get_by_label("Seed", exact=True).filter(visible=True).first
    page.wait_for_function(f"el => el.value === '{seed}'", arg=seed_field.element_handle())  # not the batch's
    assert page.get_by_label("number input for Images").input_value() == "1"
    bar.get_by_role("button", name="→ VAE").click()  # to the VAE's reconstruction
    page.locator("#vae-image img").first.wait_for(timeout=15_000)
    page.get_by_role("tab", name="Text", exact=True).click()

    page.locator("#text-prompt textarea").fill("something else")
    history_cell.click()  # one click puts it back
    page.wait_for_function("document.querySelector('#text-prompt textarea').value === 'a cat astronaut'")
    page.screenshot(path=str(os.environ.get("ATELIER_TEXT_SCREENSHOT", tmp_path / "text-tab.png")), full_page=True)
    page.close()


def test_paint_a_mask_with_the_brush_inpaint_and_find_it_in_the_gallery(browser, studio):
    url, gallery = studio
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url)
    page.get_by_role("tab", name="GAN", exact=True).click()  # a GAN image, sent to Edit from under its grid
    page.get_by_label("Seed", exact=True).first.fill("3")
    page.get_by_label("number input for Grid size").fill("2")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#gan-grid img").nth(1).wait_for(timeout=30_000)
    page.locator("#gan-grid img").first.click()
    page.locator(".selection-bar").filter(visible=True).get_by_role("button", name="→ Edit").click()
    page.get_by_text("paint over the part to change").filter(visible=True).first.wait_for(timeout=15_000)
    canvas = page.locator("#edit-editor canvas").first
    canvas.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)  # the image is drawn on the canvas
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=10)
    page.mouse.up()
    page.get_by_label("Seed", exact=True).filter(visible=True).fill("5")
    page.get_by_label("number input for Images").filter(visible=True).fill("2")
    page.get_by_role("button", name="Inpaint", exact=True).click()
    page.locator("#edit-status", has_text="2 images saved").wait_for(timeout=60_000)
    page.locator("#gallery-view img").nth(1).wait_for(timeout=30_000)
    entry = gallery.list()[0]
    assert entry.recipe["operation"] == "inpaint" and entry.recipe["seed"] == 6
    sent = Image.open(gallery.input_path(entry.recipe["inputs"]["image"]))
    assert sent.size == (16, 16)  # the tiny GAN's image itself, not an example
    mask = np.asarray(Image.open(gallery.input_path(entry.recipe["inputs"]["mask"])).convert("L")) > 127
    assert 0 < mask.mean() < 0.9  # the stroke (6 px wide on a 16 px image), not the whole image
    page.close()


def test_draw_until_stop_and_stop_keeps_the_finished_images(browser, studio_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(studio_url)
    page.get_by_role("tab", name="Text", exact=True).click()
    page.locator("#text-prompt textarea").fill("a red apple")
    page.get_by_label("number input for Images").fill("2")
    page.get_by_label("Until Stop").check()
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function(  # two batches or more are in
        "/batch ([3-9]|\\d\\d+) of/.test(document.querySelector('#text-status')?.innerText || '')", timeout=60_000
    )
    page.get_by_role("button", name="Stop", exact=True).click()
    page.locator("#text-status", has_text="stopped").wait_for(timeout=60_000)
    status = page.locator("#text-status").inner_text()
    saved = int(status.split(":")[-1].split()[0])  # "stopped …: 6 images saved"
    assert saved >= 4 and saved % 2 == 0
    captions = page.locator("#text-images .caption-label").all_inner_texts()
    assert len([c for c in captions if c.startswith("#")]) == saved  # the finished images stay on screen
    page.screenshot(path=str(tmp_path / "text-stopped.png"), full_page=True)
    page.close()


def test_on_a_phone_every_tab_is_reachable_and_grids_wrap_to_the_width(browser, studio_url):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(studio_url)
    for name in ("Class-conditional", "VAE", "Text", "Edit", "Restyle", "Upscale", "GAN"):  # all in view, no "…"
        tab = page.get_by_role("tab", name=name, exact=True)
        box = tab.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, name
        tab.click()
    page.get_by_role("button", name="Generate", exact=True).click()
    images = page.locator("#gan-grid img")
    images.nth(15).wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    right_edges = [images.nth(i).bounding_box()["x"] + images.nth(i).bounding_box()["width"] for i in range(16)]
    assert max(right_edges) <= 390  # all 16 in the page's width: no swiping inside the grid
    images.nth(5).click()
    bar = page.locator(".selection-bar").filter(visible=True)
    bar.get_by_role("button", name="🌱 Use this seed").wait_for()
    assert bar.bounding_box()["x"] + bar.bounding_box()["width"] <= 390
    page.close()


def test_search_the_gallery_and_keep_favourites(browser, studio_url):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(studio_url)
    page.get_by_label("Seed", exact=True).first.fill("40")
    page.get_by_label("number input for Grid size").fill("4")
    page.get_by_role("button", name="Generate", exact=True).click()
    view = page.locator("#gallery-view img")
    view.nth(3).wait_for(timeout=60_000)
    page.locator("#gallery-search textarea, #gallery-search input").first.fill("#41")
    page.keyboard.press("Enter")
    page.get_by_text("1 image found").wait_for(timeout=15_000)
    assert view.count() == 1
    view.first.click()
    page.get_by_role("button", name="★ Favourite").click()
    page.locator("#gallery-search textarea, #gallery-search input").first.fill("")
    page.keyboard.press("Enter")
    page.get_by_text("4 images").first.wait_for(timeout=15_000)
    page.get_by_label("★ favourites only").check()
    page.get_by_text("1 image found").wait_for(timeout=15_000)
    assert view.count() == 1 and page.locator("#gallery-view .caption-label").first.inner_text().startswith("★ #41")

    page.get_by_label("★ favourites only").uncheck()
    page.get_by_text("4 images").first.wait_for(timeout=15_000)
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    view.first.click()
    page.get_by_role("button", name="🗑 Delete").click()  # asked, and declined: nothing happens
    page.wait_for_timeout(1000)
    assert asked and "Undo" in asked[0] and view.count() == 4
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="🗑 Delete").click()
    page.get_by_text("3 images").first.wait_for(timeout=15_000)
    page.get_by_role("button", name="↶ Undo delete").click()
    page.get_by_text("4 images").first.wait_for(timeout=15_000)
    page.close()


def test_pick_a_category_generate_and_see_every_class(browser, studio_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(studio_url)
    page.get_by_role("tab", name="Class-conditional", exact=True).click()
    category = page.get_by_label("Category", exact=True)
    category.click()
    category.fill("Food")  # the picker shows titles: "Food & Drink"
    page.keyboard.press("Enter")
    page.get_by_label("Seed", exact=True).filter(visible=True).first.fill("0")  # not random each run
    page.get_by_role("button", name="Generate", exact=True).click()
    grid = page.locator("#conditional-grid img")
    grid.nth(15).wait_for(timeout=60_000)
    assert page.locator("#conditional-grid").get_by_text("#0 · Food & Drink").count() == 1

    page.get_by_role("tab", name="One seed, every class", exact=True).click()
    page.get_by_role("button", name="Every class", exact=True).click()
    page.locator("#conditional-classes img").nth((3 + 2) * 8 - 1).wait_for(timeout=60_000)
    page.screenshot(path=str(os.environ.get("ATELIER_CONDITIONAL_SCREENSHOT", tmp_path / "cond.png")), full_page=True)
    page.close()


def test_reuse_a_morph_after_the_morphed_labels_changed(browser, studio):
    """Morph by category between two classes that are not the list's ends, switch the radio to style
    (From and To follow it), then reuse the strip: the radio's own handler must not overwrite the
    From and To that the restore puts back."""
    url, gallery = studio
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url)
    page.get_by_role("tab", name="Class-conditional", exact=True).click()
    page.get_by_role("tab", name="Morph", exact=True).click()
    for label, title in (("From", "Food & Drink"), ("To", "Animals")):
        picker = page.get_by_label(label, exact=True)
        picker.click()
        picker.fill(title)
        page.keyboard.press("Enter")
    page.get_by_label("Seed", exact=True).last.fill("42")
    page.get_by_label("number input for Frames").fill("6")
    page.get_by_role("button", name="Morph", exact=True).click()
    page.locator("#gallery-view img").first.wait_for(timeout=60_000)
    original = gallery.list()[0]
    assert (original.recipe["params"]["from"]["category"], original.recipe["params"]["to"]["category"]) == (
        "food",
        "animals",
    )

    page.get_by_label("style", exact=True).check()
    page.wait_for_function("document.querySelector('input[aria-label=\"From\"]').value === 'Flat'")
    reuse_newest(page)
    page.wait_for_timeout(1000)  # time for any change handler the restore set off
    assert page.get_by_label("category", exact=True).is_checked()
    assert (value_of(page, "From"), value_of(page, "To")) == ("Food & Drink", "Animals")

    page.get_by_role("button", name="Morph", exact=True).click()
    page.get_by_text("1 image already in your gallery").wait_for(timeout=60_000)  # the same pixels, recipe
    assert gallery.count() == 1 and gallery.list()[0].id == original.id
    page.close()


def test_reuse_a_text_image_while_another_model_is_chosen(browser, studio):
    """Choosing a model by hand brings its steps and guidance; reusing an image made with other ones
    must keep those the restore puts back, not the restored model's defaults."""
    url, gallery = studio
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url)
    page.get_by_role("tab", name="Text", exact=True).click()
    page.locator("#text-prompt textarea").fill("a red apple")
    page.get_by_label("number input for Images").fill("1")
    page.get_by_label("number input for Steps").fill("15")
    page.get_by_label("number input for Guidance scale").fill("5.5")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_text("image saved to the gallery").wait_for(timeout=60_000)
    original = gallery.list()[0]
    assert (original.recipe["params"]["steps"], original.recipe["params"]["guidance_scale"]) == (15, 5.5)

    model = page.get_by_label("Model", exact=True).filter(visible=True).first
    model.click()
    page.get_by_role("option", name="stabilityai/sd-turbo", exact=False).first.click()
    page.wait_for_function("document.querySelector('input[aria-label=\"number input for Steps\"]').value !== '15'")
    reuse_newest(page)
    page.wait_for_timeout(1000)  # time for any change handler the restore set off
    assert value_of(page, "Model").startswith("tiny-ldm")
    assert (value_of(page, "number input for Steps"), value_of(page, "number input for Guidance scale")) == (
        "15",
        "5.5",
    )
    page.close()


def _pixels(path) -> bytes:
    from PIL import Image

    return Image.open(path).convert("RGB").tobytes()


def test_tick_hires_for_a_4x_grid_then_upscale_a_gallery_image(browser, studio):
    url, gallery = studio
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url)
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.get_by_label("number input for Grid size").fill("4")
    page.get_by_label("Hires ×4").filter(visible=True).first.check()
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#gan-grid img").nth(3).wait_for(timeout=60_000)
    page.locator("#gallery-view img").nth(3).wait_for(timeout=30_000)
    assert [Image.open(e.path).size for e in gallery.list()] == [(64, 64)] * 4  # the tiny GAN's 16 px, ×4

    page.locator("#gallery-view img").first.click()
    page.get_by_role("button", name="⤢ Upscale ×4").click()
    page.get_by_text("64×64 → 256×256 px").wait_for(timeout=60_000)  # shown in the Upscale tab
    newest = gallery.list()[0]
    assert newest.recipe["operation"] == "upscale" and newest.recipe["params"]["source"] == gallery.list()[1].id
    page.close()


def test_on_a_space_each_browser_has_its_own_gallery_kept_across_reloads(browser, tiny_checkpoints, tmp_path):
    """Two browsers (two visitors) on a private-gallery server: A's grid is A's alone, still A's after a
    reload (the browser's key in localStorage), and on B's wall once A shares one image."""
    from playwright.sync_api import expect

    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    gallery = Gallery(tmp_path / "gallery", private=True)
    demo = app.build_app(engines, gallery)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(demo))
    size = {"width": 1280, "height": 1600}
    a, b = browser.new_context(viewport=size), browser.new_context(viewport=size)  # separate storage: two visitors
    try:
        page_a, page_b = a.new_page(), b.new_page()
        page_a.goto(url)
        page_a.get_by_role("tab", name="GAN", exact=True).click()
        page_a.get_by_label("number input for Grid size").fill("3")
        page_a.get_by_role("button", name="Generate", exact=True).click()
        mine = page_a.locator("#gallery-view img")
        mine.nth(2).wait_for(timeout=60_000)
        page_a.get_by_text("only you see these").wait_for()
        page_a.reload()
        mine.nth(2).wait_for(timeout=30_000)
        assert mine.count() == 3  # the same gallery after a reload

        page_b.goto(url)
        page_b.get_by_text("page 1 of 1 · 0 images").wait_for(timeout=30_000)
        assert page_b.locator("#gallery-view img").count() == 0

        mine.first.click()
        share = page_a.get_by_role("button", name="🌐 Share")
        expect(share).to_be_enabled(timeout=15_000)
        share.click()
        page_a.get_by_text("on the shared wall").first.wait_for(timeout=15_000)
        page_b.get_by_text("Shared wall", exact=True).click()
        page_b.locator("#gallery-view img").first.wait_for(timeout=30_000)
        assert page_b.locator("#gallery-view img").count() == 1
        page_b.locator("#gallery-view img").first.click()
        page_b.get_by_text('"operation"').wait_for(timeout=15_000)
        expect(page_b.get_by_role("button", name="↺ Reuse settings")).to_be_enabled()
        assert page_b.get_by_role("button", name="🗑 Delete").is_disabled()  # not B's to delete
    finally:
        a.close()
        b.close()
        demo.close()
        gallery.close()


def test_upload_restyle_into_every_set_then_reuse_one_for_the_same_pixels(browser, studio, sample_png):
    url, gallery = studio
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url)
    page.get_by_role("tab", name="Restyle", exact=True).click()
    page.locator("#restyle-image input[type=file]").set_input_files(str(sample_png))
    page.locator("#restyle-image img").first.wait_for()
    page.get_by_role("button", name="Restyle", exact=True).click()
    page.locator("#restyle-info", has_text="saved to the gallery").wait_for(timeout=60_000)
    page.locator("#restyle-images img").nth(1).wait_for(timeout=30_000)  # every set but its own
    made = {entry.recipe["params"]["target"]: entry for entry in gallery.list()}
    assert len(made) == 2 and all(entry.recipe["engine"] == "restyle" for entry in made.values())

    page.locator("#restyle-images img").first.click()  # reuse the first from under the grid
    page.locator(".selection-bar").filter(visible=True).get_by_role("button", name="↺ Its whole batch").click()
    page.get_by_text("restored").first.wait_for(timeout=15_000)
    first = gallery.list()[-1]  # the first translation was saved first
    title = first.recipe["label"]
    assert page.locator("#restyle-image img").first.is_visible()  # the upload is back
    page.get_by_role("button", name="Restyle", exact=True).click()
    page.locator("#restyle-info", has_text=f"→ {title},").wait_for(timeout=60_000)
    assert len(gallery.list()) == 2  # the same pixels and recipe again: shown, not saved twice
    page.close()


def test_mix_the_styles_of_row_and_column_seeds_then_reuse_a_cell(browser, studio):
    from playwright.sync_api import expect

    url, gallery = studio
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url)
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.get_by_label("Model", exact=True).filter(visible=True).first.fill("tiny-stylegan")
    page.keyboard.press("Enter")
    page.get_by_role("tab", name="Style mixing", exact=True).click()
    page.get_by_role("radio", name="fine").click()  # the preset moves the switch: 16 px is now the row's too
    page.get_by_text("Rows give layers 1–4 (4–16 px").wait_for(timeout=15_000)
    # the seeds are typed once the tab has settled (typed before, a rows field was once found reset)
    rows, columns = page.locator("#mix-rows textarea"), page.locator("#mix-columns textarea")
    rows.fill("1, 2")
    columns.fill("5-7")
    expect(rows).to_have_value("1, 2")
    expect(columns).to_have_value("5-7")
    page.get_by_role("button", name="Mix", exact=True).click()
    page.locator("#gan-mixing img").nth(3 + 2 * 4).wait_for(timeout=60_000)  # the sheet, 3 seeds, 2 rows of 4
    captions = page.locator("#gan-mixing .caption-label")
    assert [captions.nth(i).inner_text() for i in (1, 4, 5)] == ["#5", "#1", "#1 × #5"]
    sheet = gallery.list()[0]
    assert sheet.recipe["operation"] == "style_mix_sheet" and sheet.recipe["params"]["crossover"] == 4
    assert len(gallery.list()) == 1 + 3 + 2 * 4

    rows.fill("9")  # changed, then put back by reuse
    page.locator("#gan-mixing img").nth(5).click()
    page.locator(".selection-bar").filter(visible=True).get_by_role("button", name="↺ Its whole batch").click()
    page.get_by_text("restored").first.wait_for(timeout=15_000)
    # the toast is raised while the restore runs, before its values reach the page: wait for them
    expect(rows).to_have_value("1, 2")
    expect(columns).to_have_value("5, 6, 7")
    page.get_by_role("button", name="Mix", exact=True).click()
    page.get_by_text("2 × 3, cells and the sheet saved").wait_for(timeout=60_000)
    assert len(gallery.list()) == 1 + 3 + 2 * 4  # the same pixels and recipes: shown, not saved twice
    page.close()
