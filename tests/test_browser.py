"""Browser level: headless Chromium (Debian's, driven by Playwright) clicks through the VAE tab."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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
def studio_url(tiny_checkpoints, tmp_path):
    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    gallery = Gallery(tmp_path / "gallery")
    demo = app.build_app(engines, gallery)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(demo))
    yield url
    demo.close()
    gallery.close()


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
    page.screenshot(path=str(os.environ.get("ATELIER_GAN_SCREENSHOT", tmp_path / "gan-tab.png")), full_page=True)
    page.close()


def test_type_a_prompt_generate_and_reuse_it_from_the_history(browser, studio_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(studio_url)
    page.get_by_role("tab", name="Text", exact=True).click()
    page.locator("#text-prompt textarea").fill("a cat astronaut")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_text("images saved to the gallery").wait_for(timeout=60_000)
    assert page.locator("#text-images img").count() == 4
    page.locator("#gallery-view img").nth(3).wait_for(timeout=30_000)
    history_cell = page.locator("#text-history").get_by_text("a cat astronaut").filter(visible=True).first
    history_cell.wait_for(timeout=15_000)

    page.locator("#text-prompt textarea").fill("something else")
    history_cell.click()  # one click puts it back
    page.wait_for_function("document.querySelector('#text-prompt textarea').value === 'a cat astronaut'")
    page.screenshot(path=str(os.environ.get("ATELIER_TEXT_SCREENSHOT", tmp_path / "text-tab.png")), full_page=True)
    page.close()


def test_pick_a_category_generate_and_see_every_class(browser, studio_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(studio_url)
    page.get_by_role("tab", name="Class-conditional", exact=True).click()
    category = page.get_by_label("Category", exact=True)
    category.click()
    category.fill("Food")  # the picker shows titles: "Food & Drink"
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Generate", exact=True).click()
    grid = page.locator("#conditional-grid img")
    grid.nth(15).wait_for(timeout=60_000)
    assert page.locator("#conditional-grid").get_by_text("Food & Drink · seed 0").count() == 1

    page.get_by_role("tab", name="One seed, every class", exact=True).click()
    page.get_by_role("button", name="Every class", exact=True).click()
    page.locator("#conditional-classes img").nth((3 + 2) * 8 - 1).wait_for(timeout=60_000)
    page.screenshot(path=str(os.environ.get("ATELIER_CONDITIONAL_SCREENSHOT", tmp_path / "cond.png")), full_page=True)
    page.close()
