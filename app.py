"""Atelier: an image-generation studio for artists. This file puts the page together and serves it.

    python app.py                          # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080
    python -m ui.gan                       # one tab alone (ui.gan, ui.vae, ui.text, ui.edit, ui.restyle, ...)

Each tab is a module in ui/ (its layout, handlers and restore table); models live in engines/,
persistence in gallery/. The page is served first: torch and the models load right after, in the
background, and a click that comes earlier waits for its model with "loading the model…".
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import threading
from typing import Any

import gradio as gr

from engines import Engines, preload
from gallery import Gallery
from gallery.store import DEFAULT_ROOT
from ui import conditional, edit, gan, restyle, text, upscale, vae
from ui.gallery import GalleryPanel
from ui.page import Page
from ui.settings import Settings, ShortLines, limit_malloc_arenas
from ui.studio import Studio, reuse_seeds
from ui.visitors import RateLimit, Visitors
from ui.widgets import CSS, EXAMPLES_DIR, SHORTCUTS, model_choices

TABS = [gan, conditional, vae, text, edit, restyle, upscale]  # in page order; a tab is shown when it has a model to run
log = logging.getLogger("atelier")


def build_app(
    engines: Engines | None = None,
    gallery: Gallery | None = None,
    only: str | None = None,
    settings: Settings | None = None,
) -> gr.Blocks:
    """The page (`only`: one tab's module name, e.g. "ui.gan"). Loads no model and imports no torch.
    `settings`: the caps (ui/settings.py; by default, those of the environment)."""
    settings = settings or Settings.from_env()
    gallery = gallery or Gallery(DEFAULT_ROOT, settings.private, settings.gallery)
    visitors = Visitors(gallery.private, gallery.root / ".secret", RateLimit(settings.rate_per_minute))
    studio = Studio(engines or Engines(), gallery, visitors)
    # Gradio's served copies and uploads older than the cache age are deleted, checked hourly
    cache = (3600, int(settings.cache_hours * 3600))
    with Page(title="Atelier", delete_cache=cache) as demo:
        gr.Markdown(
            "# 🎨 Atelier\nMake images with models trained on emoji art. Everything you make is kept "
            "in the gallery below, with its full recipe. **Ctrl+Enter** (⌘+Enter) generates in the tab you are "
            "on; seeds start at **-1**, a new random seed each run: **♻** keeps the last run's seed, "
            "**🎲** goes back to random."
        )
        with gr.Tabs(overflow_behavior="wrap") as top:  # a phone shows every tab, no "…" menu
            tabs = []
            for module in TABS:
                if module.available(studio) and only in (None, module.__name__):
                    with gr.Tab(module.TITLE, id=module.__name__.removeprefix("ui.")):
                        tabs.append(module.build(studio))
                        tabs[-1].title = module.TITLE
        panel = GalleryPanel(studio, tabs)
        panel.layout(top)
        footer = gr.Markdown()

        # After the page is served: who is visiting (first), their gallery, what needs a model or torch,
        # and models trained while the app runs.
        (identify, *who), *rest = panel.on_load
        visited = demo.load(identify, *who, api_visibility="private")
        for tab in tabs:
            rest += tab.on_load
            for task, picker in tab.pickers.items():
                choices = lambda task=task: gr.update(choices=model_choices(studio.engines, task))  # noqa: E731
                demo.load(choices, None, picker, api_visibility="private")
            reuse_seeds(studio, tab)
        for fn, inputs, outputs in rest:
            visited.then(fn, inputs, outputs, api_visibility="private")
        demo.load(lambda: running_on(studio.engines), None, footer, api_visibility="private")
    demo.studio, demo.panel = studio, panel  # tests and benchmarks reach the handlers through the app
    demo.tasks = [task for tab in tabs for task in tab.engines]
    return demo


def running_on(engines: Engines) -> str:
    return f"<small>Running on {engines.runtime.describe()} · gradio {gr.__version__}</small>"


def launch_kwargs(demo: gr.Blocks) -> dict[str, Any]:
    """What launch() needs besides host and port (Gradio 6 takes theme and CSS here)."""
    return dict(
        theme=gr.themes.Soft(primary_hue="violet", secondary_hue="amber"),
        css=CSS,
        js=SHORTCUTS,
        # Not the gallery's folder (its index, everyone's images): handlers hand out copies (ui.studio.served).
        allowed_paths=[str(EXAMPLES_DIR)],
        footer_links=["api", "gradio", "settings"],
    )


def main(only: str | None = None) -> None:
    parser = argparse.ArgumentParser(description="Atelier, the image studio")
    # A Space tells Gradio where to listen through GRADIO_SERVER_NAME/PORT (0.0.0.0:7860); passing
    # our own default instead would bind to 127.0.0.1, which the Space's proxy cannot reach.
    env = os.environ.get
    parser.add_argument("--host", default=env("ATELIER_HOST") or env("GRADIO_SERVER_NAME") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(env("ATELIER_PORT") or env("GRADIO_SERVER_PORT") or 7860))
    parser.add_argument(
        "--gallery", default=None, help="gallery folder (default: ATELIER_GALLERY_DIR or ./gallery_data)"
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    limit_malloc_arenas(settings.malloc_arenas)
    lines = logging.StreamHandler()
    lines.setFormatter(ShortLines("%(asctime)s %(name)s %(levelname)s %(message)s", settings.log_chars))
    logging.basicConfig(level=logging.INFO, handlers=[lines])
    engines = Engines()
    gallery = Gallery(args.gallery or DEFAULT_ROOT, settings.private, settings.gallery)
    demo = build_app(engines, gallery, only, settings)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size).launch(
        server_name=args.host,
        server_port=args.port,
        prevent_thread_lock=True,
        state_session_capacity=settings.sessions,  # the oldest sessions' page state is dropped beyond it
        **launch_kwargs(demo),
    )
    # Every first request needs torch (~2 s to import): the import starts once the server is up, not
    # beside its start, where it held the interpreter's lock and made the page 0.3 s later for the same
    # first image; the models load after it (measured: benchmarks/cold_start.py).
    threading.Thread(target=importlib.import_module, args=("torch",), name="import-torch", daemon=True).start()
    if env("ATELIER_PRELOAD", "1").lower() not in ("0", "false", "no"):
        loaded = preload(engines, demo.tasks, pause=demo.studio.wait_idle)
        log.info("preloaded %s", ", ".join(loaded) or "nothing")
    demo.block_thread()


if __name__ == "__main__":
    main()
