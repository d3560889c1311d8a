"""Reading whatever people upload: every odd format works, every bad file gets a clear InputError."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from engines.errors import InputError
from engines.imaging import center_square, difference_heatmap, fit_multiple, image_grid, load_image, save_gif


def test_rgba_is_composited_on_white(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "1", "I;16", "F"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    image = Image.new("RGB", (16, 12), (10, 200, 30)).convert(mode) if mode not in ("I;16", "F") else None
    if mode == "I;16":
        image = Image.fromarray(np.full((12, 16), 40000, np.uint16))
    if mode == "F":
        image = Image.fromarray(np.full((12, 16), 0.5, np.float32))
    path = tmp_path / ("x.tiff" if mode in ("CMYK", "I;16", "F", "LA") else "x.png")
    image.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (16, 12)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((10, 10), 32768, np.uint16)).save(path)
    assert abs(load_image(path).getpixel((0, 0))[0] - 128) <= 1


def test_animation_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (12, 12), c) for c in ("red", "blue")]
    path = save_gif(frames, tmp_path / "a.gif", bounce=False)
    assert load_image(path).getpixel((3, 3))[0] > 200


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (30, 10), "white")
    exif = image.getexif()
    exif[274] = 6  # rotate 90° clockwise on display
    path = tmp_path / "r.jpg"
    image.save(path, exif=exif)
    assert load_image(path).size == (10, 30)


def test_non_image_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(InputError, match="not an image"):
        load_image(path)


def test_truncated_png(tmp_path):
    full = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:400])
    with pytest.raises(InputError, match=r"damaged or truncated|not an image"):
        load_image(cut)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height: a decompression bomb as seen by the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_rejected_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(20000, 20000))
    with pytest.raises(InputError, match=r"too large|megapixels"):
        load_image(path)


@pytest.mark.parametrize("size", [(1, 1), (3, 100)])
def test_tiny_images_rejected(tmp_path, size):
    path = tmp_path / "tiny.png"
    Image.new("RGB", size).save(path)
    with pytest.raises(InputError, match="at least"):
        load_image(path)


@pytest.mark.parametrize("value", [None, "", 42, "/no/such/file.png"])
def test_missing_input(value):
    with pytest.raises(InputError):
        load_image(value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(path)


def test_resize_policies():
    wide = Image.new("RGB", (300, 100))
    assert center_square(wide, 64).size == (64, 64)
    fitted = fit_multiple(Image.new("RGB", (1000, 333)), 512, 8)
    assert fitted.size[0] == 512 and fitted.size[1] % 8 == 0 and abs(fitted.size[1] - 170) <= 8


def test_heatmap_and_grid():
    a, b = Image.new("RGB", (8, 8), "black"), Image.new("RGB", (8, 8), "white")
    assert difference_heatmap(a, a).getpixel((0, 0)) == (0, 0, 0)
    assert difference_heatmap(a, b).getpixel((0, 0)) == (255, 255, 255)
    assert image_grid([a, b, a], columns=2, pad=1).size == (2 * 9 + 1, 2 * 9 + 1)
