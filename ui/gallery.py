"""The gallery panel below the tabs: everything made here, newest first, paged; select an image to
see its recipe, download it, delete it, share it, or reuse its settings (handed to the tab that made
it). With private galleries (a public Space) it is the visitor's own, and *Shared wall* shows what
visitors shared."""

from __future__ import annotations

import json
import os
from typing import Any

import gradio as gr

from engines.errors import InputError
from engines.limits import check_flag, check_int
from gallery import Query
from gallery.store import UNDO_S
from ui.studio import Studio, TabUI, served
from ui.visitors import on_space
from ui.widgets import user_errors

PAGE_SIZE = 24
MINE, WALL = "Mine", "Shared wall"
ANY_TAB = "any tab"
UNDONE = f"↶ Undo delete brings it back for {UNDO_S // 60} minutes"
MAX_SEARCH_CHARS = 200


class GalleryPanel:
    def __init__(self, studio: Studio, tabs: list[TabUI]):
        self.studio, self.tabs = studio, tabs
        self.gallery = studio.gallery

    @user_errors
    def listing(self, page: float = 1, wall: bool = False, query: str = "") -> dict[str, Any]:
        """Your gallery (or the shared wall), newest first, or only the images whose prompt, class, model
        or tool hold every word of `query` ("#42": seed 42): {page, pages, total, items: [{id, url,
        shared, recipe}]}; url fetches the PNG, recipe inside."""
        page = check_int("page", page, 1, 10**9)
        wall = check_flag("wall", wall)
        if not isinstance(query, str):
            raise InputError("query must be text: words to search for (#42 for seed 42)")
        owner, query = self.studio.owner(), self.query(query)
        entries = self.gallery.list(page, PAGE_SIZE, owner, wall, query)
        return {
            "page": page,
            "pages": self.gallery.pages(PAGE_SIZE, owner, wall, query),
            "total": self.gallery.count(owner, wall, query),
            "items": [
                {"id": e.id, "url": f"/gradio_api/file={served(e.path)}", "shared": e.shared, "recipe": e.recipe}
                for e in entries
            ],
        }

    @user_errors
    def share_api(self, image_id: str, shared: bool = True) -> str:
        """Put one of your images on the shared wall (or take it off with shared=false)."""
        shared = check_flag("shared", shared)
        if not isinstance(image_id, str) or not self.gallery.share(image_id[:200], self.studio.owner(), shared):
            raise InputError(f"you have no image {str(image_id)[:80]!r} in your gallery")
        return f"{image_id} is {'on' if shared else 'off'} the shared wall"

    @user_errors
    def delete_api(self, image_id: str) -> str:
        """Delete one of your images: unlisted and unserved at once, gone for good in 10 minutes unless
        /gallery_undo brings it back."""
        if not isinstance(image_id, str) or not self.gallery.delete(image_id[:200], self.studio.owner()):
            raise InputError(f"you have no image {str(image_id)[:80]!r} in your gallery")
        return f"{image_id} deleted; {UNDONE}"

    @user_errors
    def undo_api(self) -> str:
        """Bring back your latest deleted image (of the last 10 minutes)."""
        entry = self.gallery.undo(self.studio.owner())
        if entry is None:
            raise InputError(f"nothing to bring back: you deleted no image in the last {UNDO_S // 60} minutes")
        return f"{entry.id} is back"

    def query(self, words: str | None = "", made_in: str | None = ANY_TAB, favourites: bool = False) -> Query:
        """What the panel's search row asks for: words, the tab the images were made in, favourites."""
        tab = next((t for t in self.tabs if t.id == made_in), None)
        return Query((words or "")[:MAX_SEARCH_CHARS], tab.engines if tab else (), bool(favourites))

    @user_errors
    def page(self, page: float, view: str = MINE, words: str = "", made_in: str = ANY_TAB, favourites: bool = False):
        """The panel: images of one page, ids in the same order, and the page caption."""
        owner, wall, query = self.studio.owner(), view == WALL, self.query(words, made_in, favourites)
        pages = self.gallery.pages(PAGE_SIZE, owner, wall, query)
        page = min(max(1, int(page or 1)), pages)
        entries = self.gallery.list(page, PAGE_SIZE, owner, wall, query)
        marks = lambda e: ("★ " if e.favourite and not wall else "") + ("🌐 " if e.shared and not wall else "")  # noqa: E731
        items = [(served(e.path), marks(e) + e.caption) for e in entries]
        total = self.gallery.count(owner, wall, query)
        found = " found" if query != Query() else ""
        caption = f"page {page} of {pages} · {total} image{'s' * (total != 1)}{found}{self.note(wall)}"
        return items, [e.id for e in entries], page, caption

    def note(self, wall: bool) -> str:
        """What the caption says of who sees what."""
        if not self.gallery.private:
            return ""
        if wall:
            return " · shared by visitors"
        limits, caps = self.gallery.limits, []
        if limits.images_per_owner:
            caps.append(f"{limits.images_per_owner} images")
        if limits.megabytes_per_owner:
            caps.append(f"{limits.megabytes_per_owner:g} MB")
        kept = f" · keeps {' or '.join(caps)}, oldest unshared expire first" if caps else ""
        return f" · only you see these unless you share them{kept}"

    @user_errors
    def select(self, ids: list[str], event: gr.SelectData):
        """The selected image's id, its recipe, its download, and the buttons that act on it: reuse and
        the tabs' actions for any image you see; share and delete for your own."""
        entry = self.gallery.get(ids[event.index], self.studio.owner()) if ids and event.index < len(ids) else None
        if entry is None:
            return self.cleared()
        recipe = recipe_text(entry.recipe)
        download = gr.update(value=served(entry.path), interactive=True)
        mine = self.gallery.mine(entry, self.studio.owner())
        share = gr.update(interactive=mine, value="🌐 Unshare" if entry.shared else "🌐 Share")
        star = gr.update(interactive=mine, value="☆ Unfavourite" if entry.favourite else "★ Favourite")
        return (
            entry.id,
            recipe,
            download,
            *[gr.update(interactive=True)] * self.buttons,
            gr.update(interactive=self.makes_alone(entry.recipe)),
            share,
            star,
            gr.update(interactive=mine),
        )

    def cleared(self):
        off = gr.update(interactive=False)
        return None, "", gr.update(value=None, interactive=False), *[off] * self.buttons, off, off, off, off

    def maker(self, recipe: dict[str, Any]) -> TabUI | None:
        """The tab that restores this recipe's image, if the page has it."""
        tab = next((t for t in self.tabs if recipe.get("engine") in t.engines), None)
        return tab if tab is not None and recipe.get("operation") in tab.operations else None

    def makes_alone(self, recipe: dict[str, Any]) -> bool:
        tab = self.maker(recipe)
        return tab is not None and tab.makes_alone(recipe)

    @user_errors
    def pick(self, items: list | None, event: gr.SelectData):
        """An image clicked in a tab's grid: the bar under the grid, with what can be done to it (a
        preview, not saved yet, has none)."""
        entry = self.studio.picked(items, event.index)
        if entry is None:
            return None, gr.update(visible=False), "", "", gr.update(value=None), gr.update()
        download = gr.update(value=served(entry.path))
        alone = gr.update(interactive=self.makes_alone(entry.recipe))
        recipe = recipe_text(entry.recipe)
        return entry.id, gr.update(visible=True), f"**{entry.caption}**", recipe, download, alone

    def send(self, image_id: str | None, tab: TabUI, top: gr.Tabs) -> dict[Any, Any]:
        """The image, as the input of the tab that takes one (its sub-tab and the tab selected)."""
        entry = self.gallery.get(image_id, self.studio.owner()) if image_id else None
        if entry is None:
            raise gr.Error("select an image first")
        name, mode = tab.image_input
        values = {tab.controls[name]: served(entry.path), top: gr.update(selected=tab.id)}
        if mode:
            values[tab.controls["mode"]] = gr.update(selected=mode)
        return values

    @user_errors
    def delete(self, confirmed: bool, image_id: str | None, page: float, *looking):
        """Delete the selected image once the page's confirm said yes."""
        if not confirmed or not image_id:  # declined: the page and the selection stay as they are
            return (gr.skip(),) * (4 + len(self.cleared()))
        if self.gallery.delete(image_id, self.studio.owner()):
            gr.Info(f"deleted; {UNDONE}")
        return (*self.page(page, *looking), *self.cleared())

    @user_errors
    def undo(self, page: float, *looking):
        entry = self.gallery.undo(self.studio.owner())
        if entry is None:
            gr.Info(f"nothing to bring back: no image deleted in the last {UNDO_S // 60} minutes")
        else:
            gr.Info(f"{entry.id} is back")
        return self.page(page, *looking)

    @user_errors
    def toggle_share(self, image_id: str | None, page: float, *looking):
        entry = self.gallery.get(image_id, self.studio.owner()) if image_id else None
        if entry is not None and self.gallery.share(entry.id, self.studio.owner(), not entry.shared):
            gr.Info(f"{entry.id} is {'off' if entry.shared else 'on'} the shared wall")
        return (*self.page(page, *looking), *self.cleared())

    @user_errors
    def toggle_favourite(self, image_id: str | None, page: float, *looking):
        entry = self.gallery.get(image_id, self.studio.owner()) if image_id else None
        if entry is not None and self.gallery.favour(entry.id, self.studio.owner(), not entry.favourite):
            gr.Info(f"{entry.id} is {'no longer' if entry.favourite else 'now'} a favourite")
        return (*self.page(page, *looking), *self.cleared())

    def settings(self, image_id: str | None, alone: bool = False) -> tuple[TabUI, dict[str, Any]]:
        """The tab that made an image, and its controls' values (by name) that make it again.

        Grids are restored whole (the batch seed and size), so the same grid comes back bit for bit;
        with `alone`, the image by itself (its own seed, one image)."""
        entry = self.gallery.get(image_id, self.studio.owner()) if image_id else None
        if entry is None:
            raise gr.Error("select an image in the gallery first")
        recipe = entry.recipe
        tab = self.maker(recipe)
        if tab is None:
            raise gr.Error(f"{entry.id} was made by {recipe.get('engine')}, which this page has no tab for")
        if alone and not tab.makes_alone(recipe):
            raise gr.Error(f"{entry.id} cannot be made by itself (it is one of a batch drawn together)")
        # the images it was made from (kept by the gallery) come back only to their owner: a shared
        # image shares its recipe, not the photo its owner uploaded
        mine = self.gallery.mine(entry, self.studio.owner())
        stored = {name: self.gallery.input_path(sha) for name, sha in recipe.get("inputs", {}).items() if mine}
        inputs = {name: served(path) for name, path in stored.items() if path}
        try:
            return tab, tab.restore(recipe, inputs, alone)
        except (KeyError, TypeError) as error:
            raise gr.Error(f"the recipe of {entry.id} lacks what its settings need ({error})") from None

    def reuse(self, image_id: str | None, top: gr.Tabs, alone: bool = False) -> dict[Any, Any]:
        """Every control of the tab that made the image, set as it was; that tab and sub-tab selected."""
        tab, values = self.settings(image_id, alone)
        gr.Info(f"settings of {image_id} restored" + (", for it alone" if alone else ""))
        return {top: gr.update(selected=tab.id)} | {tab.controls[name]: value for name, value in values.items()}

    def identify(self, key: str | None, profile: gr.OAuthProfile | None, request: gr.Request):
        """At page load: who is visiting (their login, or this browser's key, made on a first visit)."""
        login = getattr(profile, "username", None) if profile is not None else None
        return self.studio.visitors.identify(request, key, login)

    @user_errors
    def newer(self, page: float, *looking):
        return self.page(max(1, int(page or 1) - 1), *looking)

    @user_errors
    def older(self, page: float, *looking):
        return self.page(int(page or 1) + 1, *looking)

    @user_errors
    def first(self, *looking):
        """Page 1 of what is now asked for (another view, search or filter)."""
        return self.page(1, *looking)

    def layout(self, top: gr.Tabs) -> None:
        private = self.gallery.private
        with gr.Accordion("Gallery", open=True):
            with gr.Row():
                whose = gr.Radio([MINE, WALL], value=MINE, show_label=False, visible=private, scale=0, min_width=300)
                prev = gr.Button("◀ Newer", scale=0, size="sm")
                caption = gr.Markdown()
                next_page = gr.Button("Older ▶", scale=0, size="sm")
                refresh = gr.Button("↻ Refresh", scale=0, size="sm")
                undo = gr.Button("↶ Undo delete", scale=0, size="sm")
                if private and on_space() and os.environ.get("OAUTH_CLIENT_ID"):  # the Space enables OAuth
                    gr.LoginButton("Sign in to keep your gallery on any device", scale=0, size="sm")
            with gr.Row(equal_height=True):
                search = gr.Textbox(
                    "",
                    show_label=False,
                    placeholder="search: prompt words, a class, a model, #42 for seed 42",
                    max_length=MAX_SEARCH_CHARS,
                    scale=3,
                    elem_id="gallery-search",
                )
                tabs = [(ANY_TAB, ANY_TAB), *((t.title or t.id, t.id) for t in self.tabs)]
                made_in = gr.Dropdown(tabs, value=ANY_TAB, show_label=False, scale=1, min_width=140)
                favourites = gr.Checkbox(False, label="★ favourites only", scale=1, min_width=140)
            page = gr.State(1)
            ids = gr.State([])
            selected = gr.State(None)
            # this browser's key (private galleries): kept in localStorage, encrypted with the studio's secret
            key = gr.BrowserState(None, storage_key="atelier-visitor", secret=self.studio.visitors.secret)
            view = gr.Gallery(
                label="Your images, newest first" if private else "Everything made here, newest first",
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
                    alone = gr.Button("🌱 Use this seed", interactive=False)
                    actions = [
                        (gr.Button(t.gallery_action[0], interactive=False), t) for t in self.tabs if t.gallery_action
                    ]
                    sends = [(gr.Button(f"→ {t.title}", interactive=False), t) for t in self.tabs if t.image_input]
                    share = gr.Button("🌐 Share", interactive=False, visible=private)
                    star = gr.Button("★ Favourite", interactive=False)
                    delete = gr.Button("🗑 Delete", variant="stop", interactive=False)
        # reuse, the tabs' actions and sends: enabled while an image is selected
        self.buttons = 1 + len(actions) + len(sends)
        panel = [view, ids, page, caption]
        buttons = [reuse, *(button for button, _ in actions), *(button for button, _ in sends)]
        selection = [selected, recipe, download, *buttons, alone, share, star, delete]
        looking = [whose, search, made_in, favourites]  # what the panel lists (page 1 on a change)
        paging = [page, *looking]
        for tab in self.tabs:
            for event in tab.saves:
                event.success(self.page, paging, panel, api_visibility="private")
        gr.api(self.listing, api_name="gallery_list")
        gr.api(self.share_api, api_name="gallery_share")
        gr.api(self.delete_api, api_name="gallery_delete")
        gr.api(self.undo_api, api_name="gallery_undo")
        refresh.click(self.page, paging, panel, api_visibility="private")
        prev.click(self.newer, paging, panel, api_visibility="private")
        next_page.click(self.older, paging, panel, api_visibility="private")
        for changed in (whose.change, search.submit, made_in.input, favourites.input):
            changed(self.first, looking, panel, api_visibility="private").then(
                self.cleared, None, selection, api_visibility="private"
            )
        view.select(self.select, ids, selection, api_visibility="private")
        # the browser's confirm answers into a hidden checkbox (a js function cannot change a gr.State input)
        confirmed = gr.Checkbox(False, visible=False)
        confirm = f"(yes, ...rest) => [confirm('Delete this image? {UNDONE}.'), ...rest]"
        delete.click(
            self.delete, [confirmed, selected, *paging], panel + selection, js=confirm, api_visibility="private"
        )
        undo.click(self.undo, paging, panel, api_visibility="private")
        share.click(self.toggle_share, [selected, *paging], panel + selection, api_visibility="private")
        star.click(self.toggle_favourite, [selected, *paging], panel + selection, api_visibility="private")
        every_control = [top, *(c for tab in self.tabs for c in tab.controls.values())]

        def wire(selected: gr.State, reuse: gr.Button, alone: gr.Button, actions: list, sends: list) -> None:
            """The buttons that act on the selected image, in this panel or under a tab's grid."""
            for button, tab in actions:
                _, act, inputs, outputs = tab.gallery_action

                def shown(image_id, *values, act=act, tab=tab):  # the result, in its tab
                    return (*act(image_id, *values), gr.update(selected=tab.id))

                acted = button.click(user_errors(shown), [selected, *inputs], [*outputs, top], api_visibility="private")
                acted.success(self.page, paging, panel, api_visibility="private")
            for button, tab in sends:
                name, mode = tab.image_input
                targets = [tab.controls[name], top] + ([tab.controls["mode"]] if mode else [])
                sent = user_errors(lambda image_id, tab=tab: self.send(image_id, tab, top))
                button.click(sent, selected, targets, api_visibility="private")
            for button, whole in ((reuse, True), (alone, False)):
                restored = user_errors(lambda image_id, whole=whole: self.reuse(image_id, top, alone=not whole))
                button.click(restored, selected, every_control, api_visibility="private")

        wire(selected, reuse, alone, actions, sends)
        for tab in self.tabs:  # the bar under each result grid
            for bar in tab.bars:
                bar_actions = [(bar.act, t) for _, t in actions[:1]]  # a bar has one action slot, MAX_SENDS sends
                bar_sends = [(button, t) for button, (_, t) in zip(bar.sends, sends, strict=False)]
                for button, t in bar_actions:
                    button.value, button.visible = t.gallery_action[0], True
                for button, t in bar_sends:
                    button.value, button.visible = f"→ {t.title}", True
                bar.grid.select(
                    self.pick,
                    bar.grid,
                    [bar.selected, bar.column, bar.caption, bar.recipe, bar.download, bar.alone],
                    api_visibility="private",
                )
                wire(bar.selected, bar.batch, bar.alone, bar_actions, bar_sends)
        # page load: who is visiting first, then their gallery (app.py runs the tabs' loads after these)
        self.on_load = [(self.identify, key, key), (self.page, paging, panel)]


def recipe_text(recipe: dict[str, Any]) -> str:
    """A recipe as the panel and the bars under the grids show it."""
    return json.dumps(recipe, indent=2, ensure_ascii=False)
