"""Private galleries, as on a public Space: two visitors (API clients, and page visitors by their
browser key) never see, fetch or delete what the other made, unless it was shared; the file route
serves no gallery file but a visitor's own copies, and a deleted image's copy goes with it."""

from __future__ import annotations

import time
import types
from pathlib import Path

import httpx
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

import app
from engines import create_engines
from engines.errors import InputError
from engines.registry import Registry
from engines.runtime import Runtime
from gallery import Gallery, Limits
from gallery.store import UNDO_S
from ui.visitors import RateLimit, Visitors, answering


@pytest.fixture(scope="module")
def space(tiny_checkpoints, tmp_path_factory):
    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    gallery = Gallery(tmp_path_factory.mktemp("space-gallery"), private=True)
    demo = app.build_app(engines, gallery)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_port=None, quiet=True, **app.launch_kwargs(demo))
    yield url, gallery, demo
    demo.close()
    gallery.close()


def fetch(url: str, path: str) -> httpx.Response:
    return httpx.get(f"{url.rstrip('/')}/gradio_api/file={path}")


def test_two_api_clients_see_only_their_own_images_until_one_shares(space):
    url, gallery, _ = space
    a, b = Client(url, verbose=False), Client(url, verbose=False)
    a.predict(0, 3, 0.8, "tiny-gan", False, api_name="/gan_sample")
    b.predict(5, 1, 0.8, "tiny-gan", False, api_name="/gan_sample")
    mine, theirs = a.predict(1, False, api_name="/gallery_list"), b.predict(1, False, api_name="/gallery_list")
    assert mine["total"] == 3 and theirs["total"] == 1
    assert {i["id"] for i in mine["items"]}.isdisjoint(i["id"] for i in theirs["items"])
    target = mine["items"][0]["id"]

    # B can neither delete, share nor upscale A's image, and is told only that B has no such image
    for api_name, args in (("/gallery_delete", (target,)), ("/gallery_share", (target, True))):
        with pytest.raises(Exception, match="you have no image"):
            b.predict(*args, api_name=api_name)
    with pytest.raises(Exception, match="no image"):
        b.predict(None, target, "tiny-upscale", api_name="/upscale")
    assert gallery.get(target, mine_owner(gallery, target)) is not None  # still there

    # shared on purpose: on the wall for B (listed, fetched, upscaled), still not deletable by B
    a.predict(target, True, api_name="/gallery_share")
    wall = b.predict(1, True, api_name="/gallery_list")
    assert [i["id"] for i in wall["items"]] == [target] and wall["items"][0]["shared"]
    assert httpx.get(url.rstrip("/") + wall["items"][0]["url"]).status_code == 200
    b.predict(None, target, "tiny-upscale", api_name="/upscale")  # B's own upscale of a shared image
    assert b.predict(1, False, api_name="/gallery_list")["total"] == 2
    with pytest.raises(Exception, match="you have no image"):
        b.predict(target, api_name="/gallery_delete")
    a.predict(target, False, api_name="/gallery_share")
    assert b.predict(1, True, api_name="/gallery_list")["total"] == 0

    # A's deletion is A's to undo, not B's
    a.predict(target, api_name="/gallery_delete")
    with pytest.raises(Exception, match="nothing to bring back"):
        b.predict(api_name="/gallery_undo")
    assert a.predict(api_name="/gallery_undo") == f"{target} is back"
    assert a.predict(1, False, api_name="/gallery_list")["total"] == 3


def mine_owner(gallery: Gallery, image_id: str) -> str:
    """The owner of an image, read as the gallery's own test would (not through any visitor)."""
    return gallery._db.execute("SELECT owner FROM images WHERE id = ?", (image_id,)).fetchone()[0]


def test_the_file_route_serves_no_gallery_file_and_no_deleted_image(space, sample_png):
    url, gallery, _ = space
    a = Client(url, verbose=False)
    a.predict(handle_file(str(sample_png)), "tiny-vae", api_name="/vae_reconstruct")  # stores the upload
    item = a.predict(1, False, api_name="/gallery_list")["items"][0]
    image, upload = gallery.images_dir / f"{item['id']}.png", gallery.input_path(item["recipe"]["inputs"]["image"])
    for secret in (gallery.root / "index.sqlite", gallery.root / "index.sqlite-wal", image, upload):
        assert secret.exists() and fetch(url, str(secret)).status_code == 403, secret
    copy = url.rstrip("/") + item["url"]
    assert httpx.get(copy).status_code == 200 and Path(item["url"].split("file=", 1)[1]).name == image.name
    a.predict(item["id"], api_name="/gallery_delete")
    assert httpx.get(copy).status_code in (403, 404)  # unserved at once; its file kept while it can be undone
    gallery.purge(time.time() + UNDO_S + 1)
    assert not image.exists() and not upload.exists()  # the upload only this image was made from goes with it


def test_ids_are_unguessable(space):
    url, _, _ = space
    a = Client(url, verbose=False)
    a.predict(0, 2, 0.8, "tiny-gan", False, api_name="/gan_sample")
    ids = [i["id"] for i in a.predict(1, False, api_name="/gallery_list")["items"]]
    assert all(len(i.rsplit("-", 1)[1]) == 20 for i in ids)  # 80 random bits after the timestamp


def test_a_page_visitor_keeps_their_gallery_across_reloads_by_their_browser_key(tmp_path):
    visitors = Visitors(True, tmp_path / "secret")
    first = types.SimpleNamespace(session_hash="s1")
    key = visitors.identify(first, None, None)  # a first visit: a new key
    assert len(key) == 64 and visitors.identify(first, key, None) == key
    reload = types.SimpleNamespace(session_hash="s2")
    assert visitors.identify(reload, key, None) == key and visitors.owner(reload) == visitors.owner(first)
    stranger = types.SimpleNamespace(session_hash="s3")
    assert visitors.identify(stranger, "../guess", None) != "../guess"  # not a key: a new one
    assert visitors.owner(stranger) != visitors.owner(first)
    assert key not in visitors.owner(first)  # the index keeps a hash, never the key
    # a login is the same gallery on any browser
    phone, laptop = types.SimpleNamespace(session_hash="p"), types.SimpleNamespace(session_hash="l")
    visitors.identify(phone, None, "ada")
    visitors.identify(laptop, key, "ada")
    assert visitors.owner(phone) == visitors.owner(laptop) != visitors.owner(first)
    # the secret that encrypts the keys outlives a restart
    assert Visitors(True, tmp_path / "secret").secret == visitors.secret
    assert Visitors(False, tmp_path / "secret").owner(first) is None  # a local studio: one gallery


def test_a_visitor_over_the_rate_is_told_when_to_retry(tmp_path):
    visitors = Visitors(True, tmp_path / "secret", RateLimit(per_minute=2))
    with answering(types.SimpleNamespace(session_hash="a")):
        visitors.admit()
        visitors.admit()
        with pytest.raises(InputError, match=r"too many requests: 2 a minute per visitor; try again in \d+ s"):
            visitors.admit()
    with answering(types.SimpleNamespace(session_hash="b")):
        visitors.admit()  # another visitor is not slowed


def test_a_full_gallery_expires_the_oldest_unshared_images_first(tmp_path):
    gallery = Gallery(tmp_path / "g", private=True, limits=Limits(images_per_owner=3))
    first = gallery.add(Image.new("RGB", (8, 8)), {"seed": 0}, owner="a")
    gallery.share(first.id, "a")
    for seed in range(1, 4):
        saved = gallery.add_all([(Image.new("RGB", (8, 8)), {"seed": seed})], owner="a")
    assert saved.expired == 1 and saved.caps == ["your gallery: 3 images"]
    assert [e.recipe["seed"] for e in gallery.list(owner="a")] == [3, 2, 0]  # the shared one is kept
    gallery.add(Image.new("RGB", (8, 8)), {"seed": 9}, owner="b")  # b's save expires nothing of a's
    assert gallery.count(owner="a") == 3
    big = Gallery(tmp_path / "h", private=True)
    one = big.add(Image.new("RGB", (16, 16)), {"seed": 0}, owner="v0").path.stat().st_size
    big.limits = Limits(megabytes_total=2.5 * one / 2**20)  # room for two images
    for seed in (1, 2):
        saved = big.add_all([(Image.new("RGB", (16, 16)), {"seed": seed})], owner=f"v{seed}")
    assert saved.expired == 1 and saved.caps[0].startswith("the studio: ")
    assert big.count(owner="v0") == 0 and big.count(owner="v1") == big.count(owner="v2") == 1  # the oldest went


def test_a_local_gallery_is_one_gallery_for_everyone(tmp_path):
    gallery = Gallery(tmp_path / "g")
    entry = gallery.add(Image.new("RGB", (8, 8)), {"seed": 0}, owner="a")
    assert gallery.count(owner="b") == 1 and gallery.get(entry.id, "b") and gallery.delete(entry.id, "b")


def test_a_grid_expires_whole(tmp_path):
    gallery = Gallery(tmp_path / "g", private=True, limits=Limits(images_per_owner=5))
    grid = gallery.add_all([(Image.new("RGB", (8, 8)), {"seed": s}) for s in range(4)], owner="a").entries
    saved = gallery.add_all([(Image.new("RGB", (8, 8)), {"seed": s}) for s in (10, 11)], owner="a")
    assert saved.expired == 4 and gallery.count(owner="a") == 2  # not 1 of the 4: the grid went whole
    assert all(gallery.get(e.id, "a") is None for e in grid)


def test_deleting_a_walk_deletes_its_served_strip_and_animation(space):
    url, _, _ = space
    a = Client(url, verbose=False, download_files=False)  # the served URLs, not downloads
    strip, gif = a.predict(3, 4, 3, 0.8, "tiny-gan", False, api_name="/gan_interpolate")
    item = a.predict(1, False, api_name="/gallery_list")["items"][0]
    copies = [strip["url"], gif["url"]]
    assert all(httpx.get(c).status_code == 200 for c in copies)
    a.predict(item["id"], api_name="/gallery_delete")
    assert all(httpx.get(c).status_code in (403, 404) for c in copies)
