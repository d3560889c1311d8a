"""The gallery: PNG files with their recipe inside, an SQLite index, and crash-safe writes.

Layout under the root (ATELIER_GALLERY_DIR, default ./gallery_data):
    images/<id>.png     the image at native size, recipe in its metadata
    inputs/<sha>.png    images a recipe was made from (for "reuse settings"), shared by content
    index.sqlite        id, created, engine, model, seed, recipe JSON

Write order makes a crash harmless: each PNG goes to a temporary file, is fsynced and renamed
into place, and only then are the index rows committed, a batch (a grid) in one transaction. A
kill before the commit leaves orphan files that `open` removes; nothing half-written, and no part
of a grid, is ever listed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from gallery.metadata import png_info

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = Path(os.environ.get("ATELIER_GALLERY_DIR", ROOT / "gallery_data"))


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path
    created: float
    recipe: dict[str, Any]

    @property
    def caption(self) -> str:
        """What the image shows first (its prompt or class), since a thumbnail's caption is cut short;
        otherwise which tool made it."""
        r = self.recipe
        what = r.get("prompt") or r.get("label") or f"{r.get('engine', '?')}: {r.get('operation', '')}"
        seed = f" · seed {r['seed']}" if r.get("seed") is not None else ""
        return f"{what}{seed}"[:120]


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Gallery:
    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)
        self.images_dir = self.root / "images"
        self.inputs_dir = self.root / "inputs"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.inputs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "index.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, created REAL NOT NULL, engine TEXT, "
            "model TEXT, seed INTEGER, recipe TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS images_created ON images (created DESC)")
        self.recover()

    def recover(self) -> dict[str, int]:
        """Remove what a crash may have left: temp files, files with no index row, rows with no file."""
        with self._lock:
            ids = {row[0] for row in self._db.execute("SELECT id FROM images")}
            removed = {"temp": 0, "orphan_files": 0, "missing_files": 0}
            for folder in (self.images_dir, self.inputs_dir):
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)
                    removed["temp"] += 1
            for png in self.images_dir.glob("*.png"):
                if png.stem not in ids:
                    png.unlink(missing_ok=True)
                    removed["orphan_files"] += 1
            for image_id in ids:
                if not (self.images_dir / f"{image_id}.png").exists():
                    self._db.execute("DELETE FROM images WHERE id = ?", (image_id,))
                    removed["missing_files"] += 1
            return removed

    def add(self, image: Image.Image, recipe: dict[str, Any], inputs: dict[str, Image.Image] | None = None) -> Entry:
        """Save one image with its recipe. `inputs` (e.g. the uploaded image) are stored by content
        hash and referenced from the recipe as recipe['inputs'][name] = sha256."""
        return self.add_all([(image, recipe)], inputs)[0]

    def add_all(
        self, images: list[tuple[Image.Image, dict[str, Any]]], inputs: dict[str, Image.Image] | None = None
    ) -> list[Entry]:
        """Save a batch (a grid) as one: every file is written first, then every index row in one
        transaction, so a crash leaves the whole batch listed or none of it (its files are orphans
        that `recover` removes)."""
        shared = {name: self._store_input(img) for name, img in (inputs or {}).items()}
        created = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        entries = []
        for i, (image, recipe) in enumerate(images):
            recipe = dict(recipe)
            if shared:
                recipe["inputs"] = shared
            image_id = f"{stamp}-{uuid.uuid4().hex[:8]}"
            recipe.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            recipe["id"] = image_id
            path = self.images_dir / f"{image_id}.png"
            info = png_info(recipe, image.size)
            _write_atomic(path, lambda f, image=image, info=info: image.save(f, format="PNG", pnginfo=info))
            entries.append(Entry(image_id, path, created + i * 1e-6, recipe))  # newest first lists the last first
        rows = [(e.id, e.created, e.recipe.get("engine"), e.recipe.get("model"), e.recipe.get("seed"),
                 json.dumps(e.recipe)) for e in entries]  # fmt: skip
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO images (id, created, engine, model, seed, recipe) VALUES (?, ?, ?, ?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return entries

    def _store_input(self, image: Image.Image) -> str:
        data = image.convert("RGB").tobytes() + repr(image.size).encode()
        sha = hashlib.sha256(data).hexdigest()
        path = self.inputs_dir / f"{sha}.png"
        if not path.exists():
            _write_atomic(path, lambda f: image.save(f, format="PNG"))
        return sha

    def input_path(self, sha: str) -> Path | None:
        if not isinstance(sha, str) or not sha.isalnum():
            return None
        path = self.inputs_dir / f"{sha}.png"
        return path if path.exists() else None

    def _entry(self, row: tuple) -> Entry:
        image_id, created, recipe = row
        return Entry(image_id, self.images_dir / f"{image_id}.png", created, json.loads(recipe))

    def list(self, page: int = 1, per_page: int = 24) -> list[Entry]:
        """Newest first; pages start at 1."""
        page, per_page = max(1, int(page)), max(1, min(200, int(per_page)))
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created, recipe FROM images ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                (per_page, (page - 1) * per_page),
            ).fetchall()
        return [self._entry(r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def pages(self, per_page: int = 24) -> int:
        return max(1, -(-self.count() // per_page))

    def get(self, image_id: str) -> Entry | None:
        with self._lock:
            row = self._db.execute("SELECT id, created, recipe FROM images WHERE id = ?", (str(image_id),)).fetchone()
        return self._entry(row) if row else None

    def delete(self, image_id: str) -> bool:
        """Remove the index row first (the image disappears at once), then the file."""
        with self._lock:
            deleted = self._db.execute("DELETE FROM images WHERE id = ?", (str(image_id),)).rowcount
        if deleted:
            (self.images_dir / f"{image_id}.png").unlink(missing_ok=True)
        return bool(deleted)

    def close(self) -> None:
        with self._lock:
            self._db.close()
