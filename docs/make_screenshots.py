"""Screenshots for the README, made with the bundled models in headless Chromium.

    python docs/make_screenshots.py   # docs/screenshot-{gan,mixing,conditional,xy-plot,text,edit,restyle,art-sets,
                                      # upscale}.png, and screenshot.png (the VAE tab)
    python docs/make_screenshots.py --only conditional --out /tmp   # one tab, somewhere else
    python docs/make_screenshots.py --only space    # a private gallery, as on a Space (desktop and phone)

Launches the studio in-process on a temporary gallery, clicks through each tab the way an
artist would, and saves full-page screenshots. Needs /usr/bin/chromium (tests/install.sh).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from engines import create_engines  # noqa: E402
from gallery import Gallery  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 1500}


def gan_tab(page, out: Path) -> None:
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.get_by_label("Seed", exact=True).first.fill("0")  # the seed the page opens with
    page.get_by_role("button", name="Generate", exact=True).click()
    grid = page.locator("#gan-grid img")
    grid.nth(15).wait_for(timeout=60_000)
    grid.nth(5).click()  # explore around one image (its seed reaches the field before Explore is pressed)
    page.wait_for_function("document.querySelector('input[aria-label=\"Image seed\"]').value === '5'")
    page.get_by_role("button", name="Explore", exact=True).click()
    page.locator("#gan-variations img").nth(7).wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # let the gallery panel refresh
    page.screenshot(path=str(out), full_page=True)


def mixing_tab(page, out: Path) -> None:
    """Style mixing with the bundled StyleGAN-family model: four row seeds × four column seeds."""
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.get_by_label("Model", exact=True).filter(visible=True).first.fill("emoji-stylegan")
    page.keyboard.press("Enter")
    page.get_by_role("tab", name="Style mixing", exact=True).click()
    page.locator("#mix-rows textarea").fill("27, 0, 21, 51")
    page.locator("#mix-columns textarea").fill("6, 17, 41, 8")
    page.get_by_role("button", name="Mix", exact=True).click()
    page.locator("#gan-mixing img").nth(4 + 4 * 4).wait_for(timeout=60_000)
    page.locator("#gan-mixing img").first.click()  # the sheet, opened big
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out), full_page=True)


def conditional_tab(page, out: Path) -> None:
    page.get_by_role("tab", name="Class-conditional", exact=True).click()
    page.get_by_role("tab", name="One seed, every class", exact=True).click()
    page.get_by_role("button", name="Every class", exact=True).click()
    page.locator("#conditional-classes img").nth(12 * 8 - 1).wait_for(timeout=60_000)
    page.wait_for_timeout(2500)  # let every thumbnail load
    page.screenshot(path=str(out), full_page=True)


def plot_tab(page, out: Path) -> None:
    """The class-conditional X/Y plot as it opens: an art style a column, a category a row."""
    page.get_by_role("tab", name="Class-conditional", exact=True).click()
    page.get_by_role("tab", name="X/Y plot", exact=True).click()
    page.get_by_label("Seed", exact=True).filter(visible=True).fill("3")
    page.get_by_role("button", name="Plot", exact=True).click()
    page.locator("#conditional-plot img").nth(32).wait_for(timeout=60_000)
    page.locator("#conditional-plot img").first.click()  # the sheet, opened big, and the bar under it
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out), full_page=True)


def text_tab(page, out: Path) -> None:
    page.get_by_role("tab", name="Text", exact=True).click()
    page.locator("#text-prompt textarea").fill("a red apple, noto style")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#text-status", has_text="saved").wait_for(timeout=120_000)
    page.get_by_text("Compare: an X/Y plot").click()  # guidance × seeds, as the section opens
    page.locator("#text-prompt textarea").fill("a purple cat face, fluent 3d style")
    page.get_by_role("button", name="Plot", exact=True).click()
    page.locator("#text-status", has_text="X/Y plot").wait_for(timeout=300_000)
    page.wait_for_timeout(2500)  # let the history and the gallery panel refresh
    page.screenshot(path=str(out), full_page=True)


def edit_tab(page, out: Path) -> None:
    """Paint over a face's mouth with the brush and inpaint it."""
    page.get_by_role("tab", name="Edit", exact=True).click()
    page.get_by_text("Held-out emoji to try").click()
    page.locator(".gallery-item").filter(visible=True).last.click()  # the pouting cat, into the editor
    canvas = page.locator("#edit-editor canvas").first
    canvas.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    for row in (0.62, 0.68, 0.74):  # three strokes over the mouth
        page.mouse.move(x + w * 0.36, y + h * row)
        page.mouse.down()
        page.mouse.move(x + w * 0.64, y + h * row, steps=12)
        page.mouse.up()
    page.locator("#edit-prompt textarea").fill("grinning cat, noto style")
    page.get_by_label("Seed", exact=True).filter(visible=True).fill("1")
    page.get_by_role("button", name="Inpaint", exact=True).click()
    page.locator("#edit-status", has_text="saved").wait_for(timeout=120_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out), full_page=True)


def upscale_tab(page, out: Path) -> None:
    """A GAN grid drawn with Hires ×4 (128 px), then one of its images enlarged again from the gallery."""
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.get_by_label("Seed", exact=True).first.fill("7")
    page.get_by_label("number input for Grid size").fill("8")
    page.get_by_label("Hires ×4").filter(visible=True).first.check()
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#gallery-view img").nth(7).wait_for(timeout=60_000)
    page.locator("#gallery-view img").nth(2).click()
    page.get_by_role("button", name="⤢ Upscale ×4").click()
    page.get_by_text("128×128 → 512×512 px").wait_for(timeout=60_000)  # shown in the Upscale tab
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out), full_page=True)


def restyle_tab(page, out: Path) -> None:
    """A held-out emoji redrawn in another art set by the text model's image-to-image."""
    page.get_by_role("tab", name="Restyle", exact=True).click()
    page.get_by_role("tab", name="Image to image", exact=True).click()
    page.locator("#i2i-image input[type=file]").set_input_files(str(ROOT / "examples" / "noto-pouting-cat.png"))
    page.locator("#i2i-image img").first.wait_for()
    page.locator("#i2i-prompt textarea").fill("pouting cat face, twemoji style")
    page.get_by_label("Seed", exact=True).filter(visible=True).fill("1")
    page.get_by_role("button", name="Redraw", exact=True).click()
    page.locator("#i2i-status", has_text="saved").wait_for(timeout=120_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out), full_page=True)


def sets_tab(page, out: Path) -> None:
    """A held-out emoji redrawn by the bundled translator in every other art set."""
    page.get_by_role("tab", name="Restyle", exact=True).click()
    page.get_by_role("tab", name="Art sets", exact=True).click()
    page.locator("#restyle-image input[type=file]").set_input_files(str(ROOT / "examples" / "noto-pouting-cat.png"))
    page.locator("#restyle-image img").first.wait_for()
    page.get_by_role("button", name="Restyle", exact=True).click()
    page.locator("#restyle-info", has_text="saved to the gallery").wait_for(timeout=60_000)
    page.locator("#restyle-images img").nth(2).wait_for(timeout=30_000)  # every set but its own
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out), full_page=True)


def vae_tab(page, out: Path) -> None:
    page.get_by_role("tab", name="VAE", exact=True).click()
    page.locator("#vae-image input[type=file]").set_input_files(str(ROOT / "examples" / "noto-pouting-cat.png"))
    page.locator("#vae-image img").first.wait_for()
    page.get_by_role("button", name="Reconstruct", exact=True).click()
    page.get_by_text("PSNR").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out), full_page=True)


def space_gallery(page, out: Path) -> None:
    """A visitor's own gallery on a Space: a grid made, one image shared, the wall."""
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.get_by_label("number input for Grid size").fill("8")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#gallery-view img").nth(7).wait_for(timeout=60_000)
    page.locator("#gallery-view img").nth(2).click()
    share = page.get_by_role("button", name="🌐 Share")
    page.wait_for_timeout(1000)
    share.click()
    page.get_by_text("on the shared wall").first.wait_for(timeout=15_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out.with_name(out.stem + "-phone.png")), full_page=True)


def main() -> None:
    import argparse

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    shots = ["gan", "mixing", "conditional", "plot", "text", "edit", "restyle", "sets", "upscale", "vae", "space"]
    parser.add_argument("--only", nargs="+", choices=shots, help="just these tabs (space: alone)")
    args = parser.parse_args()
    out = args.out

    engines = create_engines()
    private = bool(args.only) and args.only == ["space"]  # a private gallery needs a server of its own
    gallery = Gallery(Path(tempfile.mkdtemp()) / "gallery", private=private)
    demo = app.build_app(engines, gallery)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(demo))
    shots = [("screenshot.png", vae_tab)]
    if engines.registry.bundled("upscale") and engines.registry.bundled("gan"):
        shots.insert(0, ("screenshot-upscale.png", upscale_tab))
    if engines.registry.bundled("restyle"):
        shots.insert(0, ("screenshot-art-sets.png", sets_tab))
    if engines.registry.bundled("image_to_image"):
        shots.insert(0, ("screenshot-restyle.png", restyle_tab))
    if engines.registry.bundled("edit"):
        shots.insert(0, ("screenshot-edit.png", edit_tab))
    if engines.registry.bundled("text"):
        shots.insert(0, ("screenshot-text.png", text_tab))
    if engines.registry.bundled("conditional"):
        shots[:0] = [("screenshot-conditional.png", conditional_tab), ("screenshot-xy-plot.png", plot_tab)]
    if any(spec.id == "emoji-stylegan" for spec in engines.registry.bundled("gan")):
        shots.insert(0, ("screenshot-mixing.png", mixing_tab))
    if engines.registry.bundled("gan"):
        shots.insert(0, ("screenshot-gan.png", gan_tab))
    if private:
        shots = [("screenshot-space.png", space_gallery)]
    elif args.only:
        shots = [(name, shoot) for name, shoot in shots if shoot.__name__.removesuffix("_tab") in args.only]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            for name, shoot in shots:
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(url)
                shoot(page, out / name)
                page.close()
                print(f"wrote {out / name}")
            browser.close()
    finally:
        demo.close()
        gallery.close()


if __name__ == "__main__":
    main()
