"""The gallery: metadata contract, paging, persistence, and crash safety."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from gallery import Gallery, read_recipe
from gallery.metadata import a1111_parameters
from gallery.store import UNDO_S

ROOT = Path(__file__).resolve().parent.parent
RECIPE = {
    "engine": "text",
    "operation": "generate",
    "model": "emoji-ldm",
    "model_hash": "abc123",
    "seed": 42,
    "prompt": "a cat astronaut, ünïcode ✨",
    "negative_prompt": "blurry",
    "params": {"steps": 20, "guidance_scale": 5.0, "scheduler": "dpm++"},
}


def test_png_carries_a1111_parameters_and_full_json(gallery):
    entry = gallery.add(Image.new("RGB", (64, 48), "red"), RECIPE)
    with Image.open(entry.path) as image:
        parameters = image.info["parameters"]
    assert parameters.startswith("a cat astronaut, ünïcode ✨\nNegative prompt: blurry\n")
    assert "Steps: 20" in parameters and "Seed: 42" in parameters and "Size: 64x48" in parameters
    assert "Model hash: abc123" in parameters and "CFG scale: 5.0" in parameters
    recipe = read_recipe(str(entry.path))
    assert recipe["prompt"] == RECIPE["prompt"] and recipe["params"] == RECIPE["params"] and recipe["id"] == entry.id


def test_sampler_is_the_one_used_not_the_controls_choice():
    ran = {**RECIPE, "params": {"steps": 4, "scheduler": "model default", "sampler": "DPM-Solver++"}}
    line = a1111_parameters(ran, (64, 64)).splitlines()[-1]
    assert "Sampler: DPM-Solver++" in line and "model default" not in line


def test_parameters_without_prompt_is_one_line():
    text = a1111_parameters({"engine": "vae", "operation": "sample", "seed": 3, "params": {"index": 0}}, (64, 64))
    assert "\n" not in text and text.startswith("Seed: 3")


def test_captions_lead_with_what_the_image_shows(gallery):
    """A thumbnail shows a caption's first dozen characters: the seed, then the prompt or class."""
    conditional = {"engine": "conditional", "operation": "sample", "label": "Food & Drink · Noto", "seed": 3}
    assert gallery.add(Image.new("RGB", (8, 8)), conditional).caption == "#3 · Food & Drink · Noto"
    assert gallery.add(Image.new("RGB", (8, 8)), RECIPE).caption == "#42 · a cat astronaut, ünïcode ✨"
    unnamed = {"engine": "gan", "operation": "interpolate", "seed": None}
    assert gallery.add(Image.new("RGB", (8, 8)), unnamed).caption == "gan: interpolate"
    assert "Class: Food & Drink · Noto" in a1111_parameters({**conditional, "params": {}}, (32, 32))


def test_newest_first_paging_and_delete(gallery):
    ids = [gallery.add(Image.new("RGB", (8, 8)), {**RECIPE, "seed": i}).id for i in range(5)]
    assert [e.id for e in gallery.list(1, 2)] == ids[::-1][:2]
    assert [e.id for e in gallery.list(3, 2)] == ids[:1]
    assert gallery.count() == 5 and gallery.pages(2) == 3
    assert gallery.delete(ids[2]) and not gallery.delete(ids[2])
    assert gallery.get(ids[2]) is None and gallery.count() == 4 and ids[2] not in [e.id for e in gallery.list()]
    assert gallery.undo().id == ids[2] and gallery.count() == 5 and gallery.undo() is None  # brought back, once
    assert gallery.delete(ids[2]) and gallery.purge(time.time() + UNDO_S + 1) == 1  # gone for good
    assert not (gallery.images_dir / f"{ids[2]}.png").exists() and gallery.undo() is None


def test_inputs_are_stored_once_by_content(gallery):
    source = Image.new("RGB", (10, 10), "blue")
    a = gallery.add(Image.new("RGB", (8, 8)), RECIPE, inputs={"image": source})
    b = gallery.add(Image.new("RGB", (8, 8)), RECIPE, inputs={"image": source.copy()})
    sha = a.recipe["inputs"]["image"]
    assert sha == b.recipe["inputs"]["image"] and len(list(gallery.inputs_dir.glob("*.png"))) == 1
    assert Image.open(gallery.input_path(sha)).getpixel((0, 0)) == (0, 0, 255)
    assert gallery.input_path("../../etc/passwd") is None


def test_survives_restart(tmp_path):
    first = Gallery(tmp_path / "g")
    entry = first.add(Image.new("RGB", (8, 8)), RECIPE)
    first.close()
    again = Gallery(tmp_path / "g")
    assert [e.id for e in again.list()] == [entry.id] and again.get(entry.id).recipe["seed"] == 42
    again.close()


KILL_SCRIPT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from PIL import Image
    import gallery.store as store
    g = store.Gallery({folder!r})
    g.add(Image.new("RGB", (8, 8)), {{"engine": "vae", "seed": 1}})
    point = {point!r}
    real_replace, real_fsync = os.replace, os.fsync
    def hang():
        print("HANGING", flush=True)
        time.sleep(60)
    if point == "mid-file":
        store.os.fsync = lambda fd: hang()
    else:
        store.os.replace = lambda a, b: (real_replace(a, b), hang())
    g.add(Image.new("RGB", (8, 8)), {{"engine": "vae", "seed": 2}})
""")


@pytest.mark.parametrize("point", ["mid-file", "before-index"])
def test_kill_mid_write_leaves_no_broken_or_orphan_entry(tmp_path, point):
    folder = tmp_path / "g"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT.format(root=str(ROOT), folder=str(folder), point=point)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "HANGING"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    leftovers = list((folder / "images").iterdir())
    assert len(leftovers) == 2  # the saved image plus what the killed write left behind
    g = Gallery(folder)
    entries = g.list()
    assert [e.recipe["seed"] for e in entries] == [1]
    assert sorted(p.name for p in (folder / "images").iterdir()) == [f"{entries[0].id}.png"]
    assert json.loads(Image.open(entries[0].path).info["atelier"])["seed"] == 1
    g.close()


GRID_KILL_SCRIPT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from PIL import Image
    import gallery.store as store
    g = store.Gallery({folder!r})
    g.add(Image.new("RGB", (8, 8)), {{"engine": "gan", "seed": 1}})
    real_replace, calls = os.replace, []
    def replace_then_hang(a, b):  # the third image of the grid is written, then the process hangs
        real_replace(a, b)
        calls.append(b)
        if len(calls) == 3:
            print("HANGING", flush=True)
            time.sleep(60)
    store.os.replace = replace_then_hang
    g.add_all([(Image.new("RGB", (8, 8)), {{"engine": "gan", "seed": 10 + i}}) for i in range(5)])
""")


def test_kill_mid_grid_lists_none_of_the_grid(tmp_path):
    """A grid is saved as one: killed after three of its five files, none of it is listed, and the
    three files are removed as orphans on the next start."""
    folder = tmp_path / "g"
    proc = subprocess.Popen(
        [sys.executable, "-c", GRID_KILL_SCRIPT.format(root=str(ROOT), folder=str(folder))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "HANGING"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert len(list((folder / "images").iterdir())) == 1 + 3
    g = Gallery(folder)
    assert [e.recipe["seed"] for e in g.list()] == [1]
    assert len(list((folder / "images").iterdir())) == 1
    g.close()


def test_a_grid_is_listed_in_order(gallery):
    entries = gallery.add_all([(Image.new("RGB", (8, 8)), {"engine": "gan", "seed": s}) for s in range(4)]).entries
    assert [e.recipe["seed"] for e in gallery.list()] == [3, 2, 1, 0]  # newest first: the grid's last image first
    assert [e.id for e in entries] == [e.id for e in reversed(gallery.list())]


def test_search_words_seeds_tabs_and_favourites_also_in_an_older_gallery(tmp_path):
    from gallery import Query

    gallery = Gallery(tmp_path / "g")
    apple = gallery.add(Image.new("RGB", (8, 8)), {**RECIPE, "prompt": "a Red apple", "seed": 42})
    gallery.add(Image.new("RGB", (8, 8)), {"engine": "gan", "operation": "sample", "seed": 420, "model": "emoji-gan"})
    gallery._db.execute("UPDATE images SET search = NULL")  # as a gallery made before search has it
    gallery.close()
    gallery = Gallery(tmp_path / "g")
    ids = lambda query: [e.id for e in gallery.list(query=query)]  # noqa: E731
    assert ids(Query("red APPLE")) == [apple.id] and ids(Query("#42")) == [apple.id]
    assert len(ids(Query("42"))) == 2 and ids(Query("50%_")) == []  # a word matches inside; % and _ are literal
    assert [e.recipe["engine"] for e in gallery.list(query=Query(engines=("gan",)))] == ["gan"]
    assert gallery.favour(apple.id, None) and ids(Query(favourites=True)) == [apple.id]
    assert gallery.count(query=Query("emoji")) == 2
    gallery.close()


def test_a_remake_is_not_saved_twice_and_comes_back_to_the_top(gallery):
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    first = gallery.add(red, RECIPE)
    gallery.add(blue, {**RECIPE, "seed": 7})
    again = gallery.add_all([(red, {**RECIPE, "created": "later"})])  # the same pixels from the same recipe
    assert again.again == 1 and again.entries[0].id == first.id and gallery.count() == 2
    assert gallery.list()[0].id == first.id  # shown as the newest
    other = gallery.add_all([(red, {**RECIPE, "seed": 8}), (blue, {**RECIPE, "seed": 7})])  # one new, one remake
    assert other.again == 1 and gallery.count() == 3
    assert gallery.add_all([(blue, RECIPE)]).again == 0  # other pixels, same recipe: a new image
