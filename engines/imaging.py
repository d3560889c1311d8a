"""Small PIL helpers shared by engines and training: grids, strips, GIFs, display upscaling."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def image_grid(images: list[Image.Image], columns: int, pad: int = 2, background: str = "white") -> Image.Image:
    """Tile equally sized images into a grid, row by row."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    w, h = images[0].size
    columns = max(1, min(columns, len(images)))
    rows = (len(images) + columns - 1) // columns
    grid = Image.new("RGB", (columns * (w + pad) + pad, rows * (h + pad) + pad), background)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid.paste(image.convert("RGB"), (pad + c * (w + pad), pad + r * (h + pad)))
    return grid


def upscale_for_display(image: Image.Image, min_side: int = 256) -> Image.Image:
    """Nearest-neighbour upscale so small images are big enough to judge, pixels kept crisp."""
    factor = max(1, -(-min_side // min(image.size)))
    return (
        image if factor == 1 else image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    )


def save_gif(frames: list[Image.Image], path: Path, duration_ms: int = 120, bounce: bool = True) -> Path:
    """Animated GIF that plays forward, then back (so it loops without a jump)."""
    sequence = frames + frames[-2:0:-1] if bounce and len(frames) > 2 else frames
    sequence[0].save(path, save_all=True, append_images=sequence[1:], duration=duration_ms, loop=0, disposal=2)
    return path


# ---- reading images people upload -------------------------------------------------------

MAX_INPUT_PIXELS = 40_000_000  # 40 MP: a big photo passes, a decompression bomb does not
MAX_INPUT_BYTES = 50 * 2**20
MIN_INPUT_SIDE = 8  # below this there is nothing for a model to see


def open_image(path: str | Path) -> Image.Image:
    """Open an uploaded file lazily, or raise InputError: its size and its header's pixel count are
    checked, and no pixel is decoded (what PNG Info needs: the text chunks, not the image)."""
    from PIL import UnidentifiedImageError

    from engines.errors import InputError

    if not isinstance(path, (str, Path)) or not str(path):
        raise InputError("no image was given: upload an image file (PNG, JPEG, WebP, GIF, ...)")
    path = Path(path)
    if not path.is_file():
        raise InputError("the uploaded image could not be found on the server; upload it again")
    size_mb = path.stat().st_size / 2**20
    if size_mb > MAX_INPUT_BYTES / 2**20:
        raise InputError(f"the file is {size_mb:.0f} MB; images up to {MAX_INPUT_BYTES // 2**20} MB are accepted")
    if path.stat().st_size == 0:
        raise InputError("the file is empty")
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as error:
        if isinstance(error, Image.DecompressionBombError):
            raise InputError(f"the image is too large (over {MAX_INPUT_PIXELS // 1_000_000} megapixels)") from None
        raise InputError("this file is not an image that can be read (try PNG, JPEG, WebP or GIF)") from None
    check_pixels(image)
    return image


def check_pixels(image: Image.Image) -> None:
    from engines.errors import InputError

    width, height = image.size
    if width * height > MAX_INPUT_PIXELS:
        raise InputError(
            f"the image is {width}×{height} ({width * height / 1e6:.0f} MP); "
            f"images up to {MAX_INPUT_PIXELS // 1_000_000} megapixels are accepted"
        )


def load_image(source: str | Path | Image.Image) -> Image.Image:
    """Open anything an artist or API client may send as an 8-bit RGB image, or raise InputError.

    Handles RGBA / LA / palette transparency (composited on white, as the training art is),
    greyscale, 16-bit and float images, CMYK, EXIF rotation and animations (first frame).
    The pixel count is checked from the header before any pixel is decoded.
    """
    from PIL import ImageOps

    from engines.errors import InputError

    image = source if isinstance(source, Image.Image) else open_image(source)
    check_pixels(image)
    width, height = image.size
    if min(width, height) < MIN_INPUT_SIDE:
        raise InputError(f"the image is {width}×{height} px; it needs to be at least {MIN_INPUT_SIDE}×{MIN_INPUT_SIDE}")
    try:
        if getattr(image, "is_animated", False):
            image.seek(0)  # animations: the first frame
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return to_rgb(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise InputError(f"the image file is damaged or truncated and cannot be decoded ({error})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255 + 0.5, 0, 255).astype("uint8"), "L")
    elif image.mode == "F":
        import numpy as np

        array = np.asarray(image, dtype=np.float64)
        peak = 1.0 if array.max() <= 1.0 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255 + 0.5, 0, 255).astype("uint8"), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def center_square(image: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square, then resize to size×size (the policy for fixed-size models)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


def to_square(image: Image.Image, side: int, fill="white") -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The image padded to a square (centred, `fill` around it) and resized to side×side, and the box
    of the image inside that square (to cut it out again)."""
    big = max(image.size)
    square = Image.new(image.mode, (big, big), fill)
    left, top = (big - image.width) // 2, (big - image.height) // 2
    square.paste(image, (left, top))
    scale = side / big
    box = (
        round(left * scale),
        round(top * scale),
        round((left + image.width) * scale),
        round((top + image.height) * scale),
    )
    resample = Image.Resampling.NEAREST if image.mode == "L" else Image.Resampling.LANCZOS
    return square.resize((side, side), resample), box


def from_square(square: Image.Image, box: tuple[int, int, int, int], size: tuple[int, int]) -> Image.Image:
    return square.crop(box).resize(size, Image.Resampling.LANCZOS)


def fit_multiple(image: Image.Image, max_side: int, multiple: int = 8) -> Image.Image:
    """Keep the aspect ratio: shrink so the long side is at most max_side, sides a multiple of `multiple`."""
    scale = min(1.0, max_side / max(image.size))
    width = max(multiple, round(image.width * scale / multiple) * multiple)
    height = max(multiple, round(image.height * scale / multiple) * multiple)
    return image if (width, height) == image.size else image.resize((width, height), Image.Resampling.LANCZOS)


def difference_heatmap(a: Image.Image, b: Image.Image, full_scale: float = 0.25) -> Image.Image:
    """Per-pixel mean absolute difference as a black -> red -> yellow -> white map.

    The scale is fixed (full_scale of the 0..1 range is white) so maps can be compared.
    """
    import numpy as np

    x = np.asarray(a, dtype=np.float32) / 255
    y = np.asarray(b, dtype=np.float32) / 255
    t = np.clip(np.abs(x - y).mean(-1) / full_scale, 0, 1)
    anchors = np.array([[0, 0, 0], [120, 0, 20], [230, 40, 0], [255, 200, 0], [255, 255, 255]], np.float32)
    position = t * (len(anchors) - 1)
    low = np.floor(position).astype(int).clip(0, len(anchors) - 2)
    frac = (position - low)[..., None]
    rgb = anchors[low] * (1 - frac) + anchors[low + 1] * frac
    return Image.fromarray(rgb.round().astype("uint8"), "RGB")


def label_font(size: int):
    """DejaVu Sans where the system has it (Greek, accents: "ψ", "ü"), else Pillow's own font."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def labelled_grid(cells: list[list[Image.Image]], row_labels: list[str], column_labels: list[str]) -> Image.Image:
    """An X/Y plot: rows of equally sized images, each column headed by its label and each row led
    by its label (a label too long for its room is cut with "…"). Small images are enlarged with
    sharp pixels first, so the labels stay readable beside them."""
    from PIL import ImageDraw

    side = max(cells[0][0].size)
    scale = max(1, -(-128 // side))  # cells at least 128 px: a 32 px emoji next to 14 px text
    w, h = cells[0][0].width * scale, cells[0][0].height * scale
    font, pad = label_font(14), 6
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    fit = lambda text, room: fitted(measure, str(text), font, room)  # noqa: E731
    row_labels = [fit(label, 200) for label in row_labels]
    left = max([measure.textlength(label, font=font) for label in row_labels if label] or [0])
    left = int(left) + 2 * pad if left else 0
    top = 14 + 2 * pad if any(column_labels) else 0
    sheet = Image.new("RGB", (left + len(cells[0]) * (w + pad) + pad, top + len(cells) * (h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(column_labels):
        x = left + pad + c * (w + pad)
        draw.text((x + w / 2, pad), fit(label, w), fill="black", font=font, anchor="mt")
    for r, row in enumerate(cells):
        y = top + pad + r * (h + pad)
        if row_labels[r]:
            draw.text((pad, y + h / 2), row_labels[r], fill="black", font=font, anchor="lm")
        for c, image in enumerate(row):
            big = image.convert("RGB").resize((w, h), Image.Resampling.NEAREST)
            sheet.paste(big, (left + pad + c * (w + pad), y))
    return sheet


def fitted(draw, text: str, font, room: float) -> str:
    """The text, cut with "…" to fit `room` pixels."""
    if draw.textlength(text, font=font) <= room:
        return text
    while text and draw.textlength(text + "…", font=font) > room:
        text = text[:-1]
    return text + "…"
