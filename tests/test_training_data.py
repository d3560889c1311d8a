"""The emoji data set builder, on a few emoji (the tarballs come from npm, checked by sha256)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from training import data as emoji_data

pytestmark = pytest.mark.slow
needs_npm = pytest.mark.skipif(
    shutil.which("npm") is None and not (emoji_data.DATA_DIR / "npm").exists(), reason="npm is not installed"
)


@needs_npm
def test_build_a_small_data_set(tmp_path):
    path = emoji_data.build(size=32, cache=emoji_data.DATA_DIR / "npm", out_dir=tmp_path, limit=12)
    data = emoji_data.load(32, data_dir=tmp_path)
    images = data["images"]
    assert images.shape[1:] == (32, 32, 3) and images.dtype == np.uint8
    assert len(images) >= 40 and set(data["style"]) == {0, 1, 2, 3}  # 12 emoji, up to 4 styles each
    assert all(c.strip() for c in data["caption"]) and (data["category"] < 8).all()
    assert images[:, 0, 0].mean() > 240  # white backgrounds, not black transparency
    for hexcode in set(data["hexcode"]):  # held out by emoji: the same in every style
        assert len(set(data["heldout"][data["hexcode"] == hexcode])) == 1
    train = emoji_data.load(32, "train", data_dir=tmp_path)
    assert len(train["images"]) == (~data["heldout"]).sum() and len(train["style_names"]) == 4
    assert path.exists() and Image.open(tmp_path / "emoji-32-contact.png").size[0] > 32
    assert "CC-BY-4.0" in (tmp_path / "ATTRIBUTION.md").read_text()


def test_tarball_with_the_wrong_hash_is_refused_and_deleted(tmp_path):
    pkg = emoji_data.TEXT_PACKAGE
    bad = tmp_path / emoji_data.tarball_name(pkg)
    bad.write_bytes(b"tampered")
    with pytest.raises(SystemExit, match="does not match the pinned"):
        emoji_data.fetch_tarball(pkg, tmp_path)
    assert not bad.exists()


def test_broken_svg_is_skipped_not_fatal():
    with pytest.raises(ValueError):
        emoji_data.render_svg("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'></svg>", 16)
    icon_set = {
        "icons": {"a": {"body": "<circle cx='8' cy='8' r='6' fill='red'/>"}},
        "width": 16,
        "height": 16,
        "aliases": {"b": {"parent": "a"}, "flipped": {"parent": "a", "hFlip": True}},
    }
    assert emoji_data.icon_svg(icon_set, "b") == emoji_data.icon_svg(icon_set, "a")
    assert emoji_data.icon_svg(icon_set, "flipped") is None and emoji_data.icon_svg(icon_set, "zzz") is None
    assert emoji_data.render_svg(emoji_data.icon_svg(icon_set, "a"), 16)[8, 8].tolist() == [255, 0, 0]
