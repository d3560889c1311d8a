"""The gallery panel below the tabs: everything made here, newest first, paged; select an image to
see its recipe, download it, delete it, or reuse its settings (handed to the tab that made it)."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from engines.errors import InputError
from engines.limits import check_int
from ui.studio import Studio, TabUI

PAGE_SIZE = 24


class GalleryPanel:
    def __init__(self, studio: Studio, tabs: list[TabUI]):
        self.studio, self.tabs = studio, tabs
        self.gallery = studio.gallery

    def listing(self, page: float = 1) -> dict[str, Any]:
        """The gallery, newest first: {page, pages, total, items: [{id, url, recipe}]}; url serves the PNG."""
        try:
            page = check_int("page", page, 1, 10**9)
        except InputError as error:
            raise gr.Error(str(error)) from None
        entries = self.gallery.list(page, PAGE_SIZE)
        return {
            "page": page,
            "pages": self.gallery.pages(PAGE_SIZE),
            "total": self.gallery.count(),
            "items": [{"id": e.id, "url": f"/gradio_api/file={e.path}", "recipe": e.recipe} for e in entries],
        }

    def page(self, page: float):
        """The panel: images of one page, ids in the same order, and the page caption."""
        pages = self.gallery.pages(PAGE_SIZE)
        page = min(max(1, int(page or 1)), pages)
        entries = self.gallery.list(page, PAGE_SIZE)
        items = [(str(e.path), e.caption) for e in entries]
        return items, [e.id for e in entries], page, f"page {page} of {pages} · {self.gallery.count()} images"

    def select(self, ids: list[str], event: gr.SelectData):
        """The selected image's id, its recipe, its download, and the buttons that act on it, enabled."""
        entry = self.gallery.get(ids[event.index]) if ids and event.index < len(ids) else None
        if entry is None:
            return self.cleared()
        recipe = json.dumps(entry.recipe, indent=2, ensure_ascii=False)
        download = gr.update(value=str(entry.path), interactive=True)
        return entry.id, recipe, download, *[gr.update(interactive=True)] * self.buttons

    def cleared(self):
        return None, "", gr.update(value=None, interactive=False), *[gr.update(interactive=False)] * self.buttons

    def delete(self, image_id: str | None, page: float):
        if image_id:
            self.gallery.delete(image_id)
        return (*self.page(page), *self.cleared())

    def settings(self, image_id: str | None) -> tuple[TabUI, dict[str, Any]]:
        """The tab that made an image, and its controls' values (by name) that make it again.

        Grids are restored whole (the batch seed and size), so the same grid comes back bit for bit."""
        entry = self.gallery.get(image_id) if image_id else None
        if entry is None:
            raise gr.Error("select an image in the gallery first")
        recipe = entry.recipe
        tab = next((t for t in self.tabs if recipe.get("engine") in t.engines), None)
        if tab is None or recipe.get("operation") not in tab.operations:
            raise gr.Error(f"{entry.id} was made by {recipe.get('engine')}, which this page has no tab for")
        stored = {name: self.gallery.input_path(sha) for name, sha in recipe.get("inputs", {}).items()}
        inputs = {name: str(path) for name, path in stored.items() if path}  # uploads kept in the gallery
        try:
            return tab, tab.restore(recipe, inputs)
        except (KeyError, TypeError) as error:
            raise gr.Error(f"the recipe of {entry.id} lacks what its settings need ({error})") from None

    def reuse(self, image_id: str | None, top: gr.Tabs) -> dict[Any, Any]:
        """Every control of the tab that made the image, set as it was; that tab and sub-tab selected."""
        tab, values = self.settings(image_id)
        gr.Info(f"settings of {image_id} restored")
        return {top: gr.update(selected=tab.id)} | {tab.controls[name]: value for name, value in values.items()}

    def layout(self, top: gr.Tabs) -> None:
        with gr.Accordion("Gallery", open=True):
            with gr.Row():
                prev = gr.Button("◀ Newer", scale=0, size="sm")
                caption = gr.Markdown()
                next_page = gr.Button("Older ▶", scale=0, size="sm")
                refresh = gr.Button("↻ Refresh", scale=0, size="sm")
            page = gr.State(1)
            ids = gr.State([])
            selected = gr.State(None)
            view = gr.Gallery(
                label="Everything made here, newest first",
                columns=8,
                height="auto",
                allow_preview=False,
                elem_classes="pixelated",
                format="png",
                fit_columns=False,
                elem_id="gallery-view",
                object_fit="contain",
            )
            with gr.Row():
                recipe = gr.Code(
                    label="Recipe of the selected image",
                    language="json",
                    elem_id="recipe",
                    interactive=False,
                    max_lines=18,
                )
                with gr.Column(scale=0, min_width=200):
                    download = gr.DownloadButton("⬇ Download PNG (with recipe)", interactive=False)
                    reuse = gr.Button("↺ Reuse settings", interactive=False)
                    actions = [
                        (gr.Button(t.gallery_action[0], interactive=False), t) for t in self.tabs if t.gallery_action
                    ]
                    delete = gr.Button("🗑 Delete", variant="stop", interactive=False)
        self.buttons = 2 + len(actions)  # reuse, the tabs' actions, delete: enabled while an image is selected
        panel = [view, ids, page, caption]
        selection = [selected, recipe, download, reuse, *(button for button, _ in actions), delete]
        for tab in self.tabs:
            for event in tab.saves:
                event.success(self.page, page, panel, api_visibility="private")
        gr.api(self.listing, api_name="gallery_list")
        refresh.click(self.page, page, panel, api_visibility="private")
        prev.click(lambda p: self.page(max(1, p - 1)), page, panel, api_visibility="private")
        next_page.click(lambda p: self.page(p + 1), page, panel, api_visibility="private")
        view.select(self.select, ids, selection, api_visibility="private")
        delete.click(self.delete, [selected, page], panel + selection, api_visibility="private")
        for button, tab in actions:
            _, act, inputs, outputs = tab.gallery_action
            acted = button.click(
                lambda image_id, *values, act=act, tab=tab: (*act(image_id, *values), gr.update(selected=tab.id)),
                [selected, *inputs],
                [*outputs, top],
                api_visibility="private",
            )
            acted.success(self.page, page, panel, api_visibility="private")
        every_control = [top, *(c for tab in self.tabs for c in tab.controls.values())]
        reuse.click(lambda image_id: self.reuse(image_id, top), selected, every_control, api_visibility="private")
        self.on_load = (self.page, page, panel)
