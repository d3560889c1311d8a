"""What the tabs share at run time: the engines and the gallery, engine calls, saving results, and
the restore tables that put an image's settings back.

A handler reads as: validate -> `studio.run(task, method, **request)` -> `studio.save_all(results)`
-> images. Engines are called with keyword arguments only (through engines/zerogpu.py, so a ZeroGPU
Space runs them on a GPU worker), so a seed can be followed from a control to the noise.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from engines import Engines, zerogpu
from engines.errors import InputError
from engines.imaging import image_grid, save_gif
from engines.limits import check_flag
from gallery import Entry, Gallery
from gallery.store import Saved
from ui.visitors import Visitors
from ui.widgets import display, user_errors

SCRATCH_MAX_AGE_S = 3600  # a walk's GIF is only shown once; Gradio serves its own copy from then on

LOADING = "loading the model…"


def caption(recipe: dict[str, Any]) -> str:
    """An image's caption in a tab's grid: its seed first ("#42", never cut off by a narrow thumbnail),
    then what it shows (its class) where the grid mixes them."""
    if recipe.get("operation") == "class_grid":  # the row's class in full; a column is one seed in every row
        return recipe["label"]
    if recipe.get("seed") is None:  # a translation (Restyle): which sets, in words
        return recipe.get("label") or recipe.get("operation", "")
    seed = f"#{recipe['seed']}"
    if recipe.get("engine") != "text" and recipe.get("label"):  # a class (conditional GAN, DiT), in words
        return f"{seed} · {recipe['label']}"
    if recipe.get("operation") == "variation":
        return f"{seed} · variation {recipe['params']['index'] + 1}"
    if recipe.get("operation") == "style_mix" and recipe["params"]["column_seed"] != recipe["seed"]:
        return f"{seed} × #{recipe['params']['column_seed']}"  # the coarse styles' seed × the fine ones'
    return seed


class Studio:
    def __init__(self, engines: Engines, gallery: Gallery, visitors: Visitors | None = None):
        self.engines, self.gallery = engines, gallery
        self.visitors = visitors or Visitors(gallery.private, gallery.root / ".secret")
        gallery.on_remove.append(self.forget)
        self.scratch = Path(tempfile.mkdtemp(prefix="atelier-"))  # GIFs for display only
        atexit.register(shutil.rmtree, self.scratch, ignore_errors=True)
        self.engines_key = zerogpu.register(engines)
        self._stops: dict[str, threading.Event] = {}
        self._stops_lock = threading.Lock()
        self._working, self._last_work = 0, 0.0  # engine calls in flight, and when the last one ended
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        with self._idle:
            self._working += 1
        try:
            yield
        finally:
            with self._idle:
                self._working -= 1
                self._last_work = time.monotonic()
                self._idle.notify_all()

    def wait_idle(self, quiet_s: float = 0.5, timeout_s: float = 60) -> None:
        """Wait until no engine call has run for `quiet_s` (the response is sent meanwhile): background
        loading waits here, so that on 2 cores the visitor's first click is not slowed by it."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while time.monotonic() < deadline:
                quiet = time.monotonic() - self._last_work
                if self._working == 0 and quiet >= quiet_s:
                    return
                self._idle.wait(max(0.05, quiet_s - quiet))

    def owner(self) -> str | None:
        """Whose gallery the request being answered acts on (None: the one local gallery)."""
        return self.visitors.owner()

    def run(self, task: str, method: str, progress: gr.Progress | None = None, **request: Any) -> Any:
        """`engines.<task>.<method>(**request)`, counted against the visitor's rate. A model not loaded
        yet (the page is served before the models load) shows "loading the model…" while it waits."""
        self.visitors.admit()
        return self._call(task, method, progress, **request)

    def run_each(self, task: str, method: str, requests: list[dict[str, Any]], progress: gr.Progress) -> list[Any]:
        """`engines.<task>.<method>(**request)` for each request (an X/Y plot's cells), counted as one
        call against the visitor's rate, as one grid of as many images is."""
        self.visitors.admit()
        made = []
        for number, request in enumerate(requests):
            progress(number / len(requests), desc=f"cell {number + 1} of {len(requests)}")
            made.append(self._call(task, method, progress if not number else None, **request))
        return made

    def _call(self, task: str, method: str, progress: gr.Progress | None = None, **request: Any) -> Any:
        model_id = request.get("model_id")
        if progress is not None and isinstance(model_id, str) and not self.engines.is_loaded(task, model_id):
            progress(0, desc=LOADING)
        with self.working():
            return zerogpu.run(self.engines_key, task, method, **request)

    def hires(self, made, hires: Any, progress: gr.Progress | None = None):
        """What a tab made, enlarged ×4 by the bundled upscaler when `hires` is on (else as it is)."""
        if not check_flag("Hires ×4", hires):
            return made
        upscalers = self.engines.registry.bundled("upscale")  # never the hub's: a GPU model, minutes on a CPU
        if not upscalers:
            raise InputError("Hires ×4 needs an upscaler, and none is installed (checkpoints/emoji-upscale)")
        return self._call("upscale", "hires", progress, made=made, model_id=upscalers[0].id)  # part of the same call

    def save(self, images: list[tuple[Image.Image, dict[str, Any]]], inputs=None) -> list[Entry]:
        """Into the visitor's gallery, all at once; says so when older images expired to make room."""
        saved: Saved = self.gallery.add_all(images, inputs, owner=self.owner())
        if saved.expired:
            gr.Warning(
                f"the gallery is full ({', '.join(saved.caps)}): your {saved.expired} oldest unshared "
                f"image{'s' * (saved.expired > 1)} expired to make room; share an image to keep it"
            )
        if saved.again:
            gr.Info(
                f"{how_many(saved.again)} already in your gallery (same pixels, same recipe): shown, not saved twice"
            )
        return saved.entries

    def save_all(self, results) -> list[tuple[str, str]]:
        """Save every image (only once all were made), with the images they were made from (a batch's
        are the same: an inpainted image's original and mask), and return (path, caption) pairs for a
        gr.Gallery."""
        entries = self.save([(r.image, r.recipe) for r in results], results[0].inputs if results else None)
        return [(served(e.path), caption(e.recipe)) for e in entries]

    def picked(self, items: list | None, index: Any) -> Entry | None:
        """The gallery entry of the image clicked in a tab's grid (a grid's files are named by their
        images' ids), if it is the visitor's to see; None otherwise."""
        if not items or not isinstance(index, int) or not 0 <= index < len(items):
            return None
        item = items[index]
        path = item[0] if isinstance(item, tuple | list) else item
        return self.gallery.get(Path(str(path)).stem, self.owner()) if isinstance(path, str) else None

    def save_strip(self, strip) -> tuple[str, str]:
        """A walk's frames -> one sheet saved to the gallery (with the images it was made from), plus a
        display-size GIF; returns both paths. The sheet wraps the frames into rows, left to right, as
        near square as they go: one 12-frame row of 32 px frames showed each at ~50 px on a desktop page,
        and as a gallery thumbnail even less."""
        frames: list[Image.Image] = strip.frames
        sheet = image_grid(frames, columns=math.ceil(math.sqrt(len(frames))), pad=0)
        entry = self.save([(sheet, strip.recipe)], strip.inputs)[0]
        self.clean_scratch()
        gif = save_gif([display(f) for f in frames], self.scratch / f"{entry.id}.gif")
        return served(entry.path), str(gif)

    def clean_scratch(self, max_age_s: float = SCRATCH_MAX_AGE_S) -> int:
        """Remove scratch files (display GIFs, the Edit tab's split images) older than `max_age_s`, and
        their served copies (the rest go when the process exits; their copies with Gradio's cache)."""
        removed, now = 0, time.time()
        for scratch in self.scratch.glob("*.*"):
            with contextlib.suppress(FileNotFoundError):
                if now - scratch.stat().st_mtime > max_age_s:
                    forget_served(scratch)
                    scratch.unlink()
                    removed += 1
        return removed

    def forget(self, image_id: str, path: Path) -> None:
        """A gallery image is being removed: its served copies go first (and its strip's GIF's)."""
        forget_served(path)
        forget_served(self.scratch / f"{image_id}.gif")

    # ---- diffusion draws, step by step (text tab, DiT section) ---------------------------------
    @contextlib.contextmanager
    def stop_event(self, request: gr.Request | None) -> Iterator[threading.Event]:
        """One Stop flag per browser session (or API client) while it draws, so Stop ends only your own
        run; forgotten when the draw ends (a flag per session ever seen would only grow)."""
        key = getattr(request, "session_hash", None) or "default"
        with self._stops_lock:
            event = self._stops.setdefault(key, threading.Event())
        try:
            yield event
        finally:
            with self._stops_lock:
                if self._stops.get(key) is event:
                    del self._stops[key]

    def stop(self, request: gr.Request = None) -> None:
        """Ask the running draw of this session to stop after its current step."""
        key = getattr(request, "session_hash", None) or "default"
        with self._stops_lock:
            if event := self._stops.get(key):
                event.set()

    def draw(
        self, task: str, runs: list[dict[str, Any]], request: gr.Request | None, hires: Any = False, save: bool = True
    ):
        """Run the draws of `task` one after another; yield (images, status) per step: the images finished
        so far, then the current run's previews. Each finished run is saved at once (enlarged first with
        Hires ×4), unless `save` is off (an X/Y plot that keeps its sheet only). Stop (or a closed page)
        ends the draw after its current step: what was finished stays saved and shown, the last preview
        stays on screen marked as stopped, and nothing half-made is saved.
        Returns (the images shown, the finished results, whether every run finished)."""
        check_flag("Hires ×4", hires)
        self.visitors.admit()
        with self.working(), self.stop_event(request) as stop:
            stop.clear()
            return (yield from self._draw(task, runs, stop, hires, save))

    def _draw(self, task: str, runs: list[dict[str, Any]], stop: threading.Event, hires: bool, save: bool):
        model_id = runs[0].get("model_id")
        if isinstance(model_id, str) and not self.engines.is_loaded(task, model_id):
            yield gr.skip(), LOADING
        shown: list[tuple[Any, str]] = []  # the finished images: saved (path, caption), or unsaved ones
        made: list = []  # the finished results
        done = "saved" if save else "made"
        preview: list[Image.Image] = []
        last_step = 0
        for number, run in enumerate(runs):
            prefix = ""  # the runs' seeds are checked by their tab (several) or by the engine (one)
            if len(runs) > 1:
                prefix = f"batch {number + 1} of {len(runs)} · seeds {run['seed']}–{run['seed'] + run['count'] - 1} · "
            if number:
                try:
                    self.visitors.admit()  # every batch counts against the visitor's rate
                except InputError as error:
                    yield shown, f"{how_many(len(shown))} {done}; stopped before batch {number + 1}: {error}"
                    return shown, made, False
            drawn, preview = [], []
            steps = zerogpu.draw_steps(self.engines_key, task, run)
            try:
                for kind, value in steps:
                    if kind == "error":
                        raise value
                    if kind == "done":
                        drawn = value
                        break
                    last_step = value.step
                    status = f"{prefix}step {value.step} of {value.total}"
                    preview = [display(im) for im in value.preview] or preview
                    yield (shown + [(im, "preview") for im in preview] if value.preview else gr.skip()), status
                    if stop.is_set():
                        break
            finally:
                steps.close()  # on Stop, or when Gradio closes this handler: the draw ends at its next step
            if drawn:  # a finished run is kept, even when Stop came during its last step
                if hires:
                    yield gr.skip(), f"{prefix}Hires ×4: enlarging…"
                finished = self.hires(drawn, hires)
                made += finished
                shown += self.save_all(finished) if save else [(display(r.image), caption(r.recipe)) for r in finished]
            if not drawn or (stop.is_set() and number < len(runs) - 1):
                kept = f"{how_many(len(shown))} {done}" if shown else f"nothing was {done}"
                if drawn:  # stopped between batches
                    yield shown, f"stopped after batch {number + 1} of {len(runs)}: {kept}"
                else:
                    yield (
                        shown + [(im, "stopped · not saved") for im in preview],
                        f"stopped at step {last_step}: {kept}",
                    )
                return shown, made, False
        yield shown, f"{how_many(len(shown))} {done}" + (" to the gallery" if save else "")
        return shown, made, True


def sheet_recipe(cell: dict[str, Any], operation: str, params: dict[str, Any], **top: Any) -> dict[str, Any]:
    """The recipe of a sheet of cells (an X/Y plot, a class grid as one sheet): what its cells share
    (model, hash, device, versions, Hires), and `top` fields (a prompt), with the sheet's operation
    and parameters; no seed or class of its own."""
    common = {k: v for k, v in cell.items() if k not in ("id", "created", "seed", "label")}
    return common | top | {"operation": operation, "seed": None, "params": params}


def how_many(count: int) -> str:
    """'1 image', '4 images'."""
    return f"{count} image{'s' * (count != 1)}"


# ---- serving gallery files ---------------------------------------------------------------------
# The gallery's folder is never served (it holds the index and every visitor's images). What a
# visitor may see is copied into Gradio's upload folder, under a folder named by a keyed hash of the
# file (Gradio's own scheme: unguessable without the image), and that copy is what the page and API
# clients fetch. Deleting an image deletes its copy, found by the same hash (a walk's GIF copy too,
# while the GIF is in the scratch folder: an hour; Gradio's cache age bounds the rest).


def served(path: Path) -> str:
    """A copy of a gallery file that Gradio may serve, for a handler to return."""
    from gradio import processing_utils, utils

    return processing_utils.save_file_to_cache(path, utils.get_upload_folder())


def forget_served(path: Path) -> None:
    """Delete the served copy of a file (while the file is still there: its copy is found by its hash)."""
    from gradio import processing_utils, utils

    if not path.is_file():
        return
    copy = Path(utils.get_upload_folder()) / processing_utils.hash_file(path) / path.name
    copy.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        copy.parent.rmdir()


# ---- restore: an image's recipe back onto the controls that made it ---------------------------
# A restore table maps a control's name to where its value is in a recipe: "seed", "model",
# "params.<name>", "inputs.<name>" (an image the recipe was made from, kept by the gallery), or a
# function of the recipe. Older recipes named some parameters differently; those are read too.
Field = str | Callable[[dict[str, Any]], Any]
OLDER_NAMES = {"count": ("grid_size", "batch_size", "variations"), "frames": ("steps",)}


def hires_of(recipe: dict[str, Any]) -> bool:
    """Restore-table field of every tab's Hires ×4 checkbox."""
    return bool(recipe.get("hires"))


def read_field(recipe: dict[str, Any], inputs: dict[str, str], where: Field) -> Any:
    if callable(where):
        return where(recipe)
    part, _, name = where.partition(".")
    if not name:
        return recipe.get(part)
    if part == "inputs":
        return inputs.get(name)
    params = recipe.get("params", {})
    for key in (name, *OLDER_NAMES.get(name, ())):
        if key in params:
            return params[key]
    raise KeyError(f"the recipe has no {where}")


def reuse_seeds(studio: Studio, tab: TabUI) -> None:
    """Wire each seed field's ♻ button: it puts back the seed of the visitor's newest image made with
    that field, as *reuse settings* would (a grid's first seed), so a -1 run can be kept."""
    fields: dict[str, list[str]] = {}  # control name -> the operations that restore it
    for name, operation in tab.operations.items():
        for control in operation.inputs:
            if control in operation.restore:
                fields.setdefault(control, []).append(name)
    for name, control in tab.controls.items():
        if getattr(control, "reuse", None) is None:
            continue
        if name in fields:
            control.reuse.click(
                last_seed_handler(studio, tab, name, fields[name]), None, control, api_visibility="private"
            )
        else:
            control.reuse.visible = False  # a seed no operation restores: nothing to put back


def last_seed_handler(studio: Studio, tab: TabUI, control: str, operations: list[str]) -> Callable[[], Any]:
    @user_errors
    def last_seed() -> Any:
        for entry in studio.gallery.list(1, 200, owner=studio.owner()):
            recipe = entry.recipe
            if recipe.get("engine") in tab.engines and recipe.get("operation") in operations:
                return read_field(recipe, {}, tab.operations[recipe["operation"]].restore[control])
        gr.Info("no image made with this seed yet")
        return gr.skip()

    return last_seed


@dataclass
class Operation:
    """One kind of image a tab makes (a recipe's `operation`): the endpoint that makes it, with its
    inputs by control name in the endpoint's order, and how its recipe maps back onto the controls."""

    api_name: str
    inputs: list[str]
    restore: dict[str, Field]
    mode: str | None = None  # the tab's sub-tab it is made in


@dataclass
class TabUI:
    """What a tab module gives the page: its controls by name ("mode" is its gr.Tabs of sub-tabs, if
    any), its operations, and the events whose success adds images to the gallery (so the gallery
    panel refreshes after them)."""

    id: str  # the gr.Tab's id: its module's name (app.py)
    engines: tuple[str, ...]  # the recipes' `engine` values this tab restores
    title: str = ""  # the tab's label (app.py sets it from the module's TITLE)
    controls: dict[str, Any] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    saves: list[Any] = field(default_factory=list)
    pickers: dict[str, Any] = field(default_factory=dict)  # task -> its model dropdown (refreshed on load)
    on_load: list[tuple[Callable, Any, Any]] = field(default_factory=list)  # (fn, inputs, outputs) per page load
    # a button in the gallery panel for the selected image: (label, fn(image id, *inputs), inputs, outputs)
    gallery_action: tuple[str, Callable, list[Any], list[Any]] | None = None
    # the tab's own additions to a restore (e.g. the classes of a restored model): (recipe, values) -> values
    refine: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    # where another tab's image can be sent to: (the image control's name, its sub-tab or None)
    image_input: tuple[str, str | None] | None = None
    bars: list[Any] = field(default_factory=list)  # ui.widgets.SelectionBar under each result grid

    def inputs(self, operation: str) -> list[Any]:
        return [self.controls[name] for name in self.operations[operation].inputs]

    def restore(self, recipe: dict[str, Any], inputs: dict[str, str], alone: bool = False) -> dict[str, Any]:
        """Control name -> value that makes this recipe's image again ("mode" selects the sub-tab): its
        whole batch, or with `alone` the image by itself (its own seed, one image; see `makes_alone`)."""
        operation = self.operations[recipe.get("operation")]
        values = {name: read_field(recipe, inputs, where) for name, where in operation.restore.items()}
        if alone:
            for name, where in operation.restore.items():
                if where == "params.batch_seed":
                    values[name] = recipe["seed"]
                elif where == "params.count":
                    values[name] = 1
        if operation.mode:
            values["mode"] = gr.update(selected=operation.mode)
        return self.refine(recipe, values) if self.refine else values

    def makes_alone(self, recipe: dict[str, Any]) -> bool:
        """Whether the recipe's image can be made by itself: image i of its batch came from seed + i.
        (A GAN variation cannot: the variations of a batch are one draw of noise.)"""
        operation = self.operations.get(recipe.get("operation"))
        return operation is not None and "params.batch_seed" in operation.restore.values()
