"""The gallery: PNG files with their recipe inside, an SQLite index, and crash-safe writes.

Layout under the root (ATELIER_GALLERY_DIR, default ./gallery_data):
    images/<id>.png     the image at native size, recipe in its metadata
    inputs/<sha>.png    images a recipe was made from (for "reuse settings"), shared by content
    index.sqlite        id, created, engine, model, seed, recipe JSON, owner, shared, bytes, batch,
                        favourite, search (the words a search matches), digest (pixels + recipe),
                        deleted (when: a deletion can be undone for UNDO_S, then the image goes)

Who sees what: a private gallery (a public Space) scopes every call to an owner, an opaque string
the caller gives (ui/visitors.py makes it): an owner lists, gets, shares and deletes only its own
images, and anyone lists and gets the images their owners shared (the wall). A local gallery is one
gallery for everyone, and owners are ignored. Ids carry 80 random bits, so nobody guesses one.

Caps (`Limits`): images and megabytes per owner and in all; a save that goes over expires the
oldest unshared images (of that owner first), a grid's all together, which `add_all` reports.

Write order makes a crash harmless: each PNG goes to a temporary file, is fsynced and renamed
into place, and only then are the index rows committed, a batch (a grid) in one transaction. A
kill before the commit leaves orphan files that `open` removes; nothing half-written, and no part
of a grid, is ever listed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from gallery.metadata import png_info

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = Path(os.environ.get("ATELIER_GALLERY_DIR", ROOT / "gallery_data"))


ENTRY_COLUMNS = "id, created, recipe, owner, shared, favourite"
UNDO_S = 600  # a deleted image can be brought back for 10 minutes; unlisted and unserved meanwhile
# what a cap weighs, a row an image: id, bytes, kept (shared, or in the batch just saved: ? = its ids), batch
CAP_ROWS = "SELECT id, bytes, shared OR id IN (SELECT value FROM json_each(?)), COALESCE(batch, id) FROM images"


@dataclass(frozen=True)
class Limits:
    """What one gallery may hold (None: no cap). Over a cap, the oldest unshared images expire."""

    images_per_owner: int | None = None
    megabytes_per_owner: float | None = None
    megabytes_total: float | None = None


@dataclass(frozen=True)
class Query:
    """Which images a listing shows: those whose prompt, class, model or tool hold every word
    ("#42": seed 42 exactly), made by one of `engines` (empty: any), favourites only or all."""

    words: str = ""
    engines: tuple[str, ...] = ()
    favourites: bool = False

    def sql(self) -> tuple[str, tuple]:
        conditions, args = [], []
        for word in self.words.lower().split()[:12]:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append("search LIKE ? ESCAPE '\\'")
            args.append(f"% {escaped} %" if word.startswith("#") else f"%{escaped}%")
        if self.engines:
            conditions.append(f"engine IN ({', '.join('?' * len(self.engines))})")
            args += self.engines
        if self.favourites:
            conditions.append("favourite = 1")
        return " AND ".join(conditions) or "1", tuple(args)


def content_digest(image: Image.Image, recipe: dict[str, Any]) -> str:
    """The same pixels from the same recipe (whenever it was made) give the same digest."""
    lasting = {k: v for k, v in recipe.items() if k not in ("created", "id")}
    digest = hashlib.sha256(json.dumps(lasting, sort_keys=True, default=str).encode())
    digest.update(f"{image.mode} {image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def search_text(recipe: dict[str, Any]) -> str:
    """What a search matches, lowercased and space-delimited: prompt, class, model, engine and
    operation, and the seed as "#42"."""
    words = [recipe.get(key) for key in ("prompt", "label", "model", "engine", "operation")]
    if recipe.get("seed") is not None:
        words.append(f"#{recipe['seed']}")
    return " " + " ".join(str(w).lower() for w in words if w) + " "


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path
    created: float
    recipe: dict[str, Any]
    owner: str | None = None
    shared: bool = False
    favourite: bool = False

    @property
    def caption(self) -> str:
        """Its seed ("#42"), then what it shows (its prompt or class; otherwise which tool made it): a
        thumbnail's caption is cut short, and the seed is what an artist reads it for. The recipe view
        has the rest."""
        r = self.recipe
        what = r.get("prompt") or r.get("label") or f"{r.get('engine', '?')}: {r.get('operation', '')}"
        seed = f"#{r['seed']} · " if r.get("seed") is not None else ""
        return f"{seed}{what}"[:120]


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


@dataclass
class Saved:
    """What `add_all` did: the entries saved, and how many older images expired to make room."""

    entries: list[Entry]
    expired: int = 0
    caps: list[str] = field(default_factory=list)  # which caps made them expire, in words
    again: int = 0  # images the owner already had (a remake): their entries, not saved twice


class Gallery:
    def __init__(self, root: str | Path = DEFAULT_ROOT, private: bool = False, limits: Limits | None = None):
        self.root = Path(root)
        self.private, self.limits = private, limits or Limits()
        self.images_dir = self.root / "images"
        self.inputs_dir = self.root / "inputs"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.inputs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.on_remove: list = []  # called with each removed image's id and path (the UI drops its copies)
        self._db = sqlite3.connect(self.root / "index.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, created REAL NOT NULL, engine TEXT, "
            "model TEXT, seed INTEGER, recipe TEXT NOT NULL)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(images)")}
        added = (
            ("owner", "TEXT"),
            ("shared", "INTEGER NOT NULL DEFAULT 0"),
            ("bytes", "INTEGER"),
            ("batch", "TEXT"),
            ("favourite", "INTEGER NOT NULL DEFAULT 0"),
            ("search", "TEXT"),
            ("digest", "TEXT"),
            ("deleted", "REAL"),
        )
        for name, kind in added:
            if name not in columns:  # galleries made before owners, sharing and caps
                self._db.execute(f"ALTER TABLE images ADD COLUMN {name} {kind}")
        self._db.execute("CREATE INDEX IF NOT EXISTS images_created ON images (created DESC)")
        self._db.execute("CREATE INDEX IF NOT EXISTS images_owner ON images (owner, created DESC)")
        self._db.execute("CREATE INDEX IF NOT EXISTS images_digest ON images (digest)")
        unsearched = self._db.execute("SELECT id, recipe FROM images WHERE search IS NULL").fetchall()
        if unsearched:  # a gallery made before search
            rows = [(search_text(json.loads(recipe)), image_id) for image_id, recipe in unsearched]
            self._db.executemany("UPDATE images SET search = ? WHERE id = ?", rows)
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

    def add(
        self,
        image: Image.Image,
        recipe: dict[str, Any],
        inputs: dict[str, Image.Image] | None = None,
        owner: str | None = None,
    ) -> Entry:
        """Save one image with its recipe. `inputs` (e.g. the uploaded image) are stored by content
        hash and referenced from the recipe as recipe['inputs'][name] = sha256."""
        return self.add_all([(image, recipe)], inputs, owner).entries[0]

    def add_all(
        self,
        images: list[tuple[Image.Image, dict[str, Any]]],
        inputs: dict[str, Image.Image] | None = None,
        owner: str | None = None,
    ) -> Saved:
        """Save a batch (a grid) as one: every file is written first, then every index row in one
        transaction, so a crash leaves the whole batch listed or none of it (its files are orphans
        that `recover` removes). Then the caps: the oldest unshared images over them expire.

        An image the owner already has (the same pixels from the same recipe: a remake) is not saved
        again: its entry comes back in its place, and `Saved.again` counts them."""
        shared = {name: self._store_input(img) for name, img in (inputs or {}).items()}
        created = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        entries, fresh, again = [], [], 0
        for i, (image, recipe) in enumerate(images):
            recipe = dict(recipe)
            if shared:
                recipe["inputs"] = shared
            digest = content_digest(image, recipe)
            if existing := self._same(digest, owner):  # a remake: the image comes back to the top, once
                entries.append(dataclasses.replace(existing, created=created + i * 1e-6))
                again += 1
                continue
            image_id = f"{stamp}-{secrets.token_hex(10)}"
            recipe.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            recipe["id"] = image_id
            path = self.images_dir / f"{image_id}.png"
            info = png_info(recipe, image.size)
            _write_atomic(path, lambda f, image=image, info=info: image.save(f, format="PNG", pnginfo=info))
            entry = Entry(image_id, path, created + i * 1e-6, recipe, owner)  # newest first: the last first
            entries.append(entry)
            fresh.append((entry, digest))
        batch = fresh[0][0].id if len(fresh) > 1 else None  # a grid: it expires whole
        rows = [(e.id, e.created, e.recipe.get("engine"), e.recipe.get("model"), e.recipe.get("seed"),
                 json.dumps(e.recipe), owner, e.path.stat().st_size, batch, search_text(e.recipe), digest)
                for e, digest in fresh]  # fmt: skip
        new_ids = {e.id for e, _ in fresh}
        remade = [(e.created, e.id) for e in entries if e.id not in new_ids]
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT INTO images (id, created, engine, model, seed, recipe, owner, bytes, batch, search, digest) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.executemany("UPDATE images SET created = ? WHERE id = ?", remade)
        expired, caps = self._expire(owner, keep={e.id for e in entries})
        self.purge()
        return Saved(entries, expired, caps, again)

    def _same(self, digest: str, owner: str | None) -> Entry | None:
        """The owner's image of this digest, if there is one (any owner's, in a local gallery)."""
        where, args = self._scope(owner)
        with self._lock:
            row = self._db.execute(
                f"SELECT {ENTRY_COLUMNS} FROM images WHERE digest = ? AND {where} LIMIT 1", (digest, *args)
            ).fetchone()
        return self._entry(row) if row else None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all (the caller holds the lock)."""
        self._db.execute("BEGIN")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _expire(self, owner: str | None, keep: set[str]) -> tuple[int, list[str]]:
        """Delete the oldest unshared images over the caps (the owner's own caps, then the total),
        never those of `keep` (the batch just saved)."""
        limits, doomed, caps = self.limits, [], []
        with self._lock:
            if self.private and (limits.images_per_owner or limits.megabytes_per_owner):
                rows = self._db.execute(
                    f"{CAP_ROWS} WHERE owner = ? ORDER BY created DESC, id DESC",
                    (json.dumps(sorted(keep)), owner),
                ).fetchall()
                doomed += over_cap(rows, limits.images_per_owner, limits.megabytes_per_owner, caps, "your gallery")
            if limits.megabytes_total:
                rows = self._db.execute(
                    f"{CAP_ROWS} ORDER BY created DESC, id DESC",
                    (json.dumps(sorted(keep)),),
                ).fetchall()
                rows = [row for row in rows if row[0] not in doomed]  # what the owner's caps left
                doomed += over_cap(rows, None, limits.megabytes_total, caps, "the studio")
        self._remove(*doomed)
        return len(doomed), caps

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
        image_id, created, recipe, owner, shared, favourite = row
        path = self.images_dir / f"{image_id}.png"
        return Entry(image_id, path, created, json.loads(recipe), owner, bool(shared), bool(favourite))

    def _scope(self, owner: str | None, wall: bool = False, query: Query | None = None) -> tuple[str, tuple]:
        """The SQL condition for what a caller sees: the wall (shared images), or its own gallery
        (everything, in a local gallery), narrowed by `query`. In a private gallery a None owner
        matches nothing."""
        if wall:
            where, args = "shared = 1", ()
        else:
            where, args = ("owner = ?", (owner,)) if self.private else ("1", ())
        where = f"deleted IS NULL AND {where}"
        if query is not None:
            narrowed, more = query.sql()
            where, args = f"{where} AND {narrowed}", (*args, *more)
        return where, args

    def list(
        self,
        page: int = 1,
        per_page: int = 24,
        owner: str | None = None,
        wall: bool = False,
        query: Query | None = None,
    ) -> list[Entry]:
        """Newest first; pages start at 1. `wall`: the images their owners shared."""
        page, per_page = max(1, int(page)), max(1, min(200, int(per_page)))
        where, args = self._scope(owner, wall, query)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {ENTRY_COLUMNS} FROM images WHERE {where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                (*args, per_page, (page - 1) * per_page),
            ).fetchall()
        return [self._entry(r) for r in rows]

    def count(self, owner: str | None = None, wall: bool = False, query: Query | None = None) -> int:
        where, args = self._scope(owner, wall, query)
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM images WHERE {where}", args).fetchone()[0]

    def pages(
        self, per_page: int = 24, owner: str | None = None, wall: bool = False, query: Query | None = None
    ) -> int:
        return max(1, -(-self.count(owner, wall, query) // per_page))

    def get(self, image_id: str, owner: str | None = None) -> Entry | None:
        """The image if the owner may see it: its own, or a shared one (any, in a local gallery)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {ENTRY_COLUMNS} FROM images WHERE id = ? AND deleted IS NULL", (str(image_id),)
            ).fetchone()
        entry = self._entry(row) if row else None
        if entry and self.private and entry.owner != owner and not entry.shared:
            return None
        return entry

    def mine(self, entry: Entry | None, owner: str | None) -> bool:
        """Whether `owner` may change (share, delete) this image."""
        return entry is not None and (not self.private or (owner is not None and entry.owner == owner))

    def share(self, image_id: str, owner: str | None, shared: bool = True) -> bool:
        """Put one of the owner's images on the wall (or take it off); False if it is not theirs."""
        if not self.mine(self.get(image_id, owner), owner):
            return False
        with self._lock:
            self._db.execute("UPDATE images SET shared = ? WHERE id = ?", (int(shared), str(image_id)))
        return True

    def favour(self, image_id: str, owner: str | None, favourite: bool = True) -> bool:
        """Star one of the owner's images (or unstar it); False if it is not theirs."""
        if not self.mine(self.get(image_id, owner), owner):
            return False
        with self._lock:
            self._db.execute("UPDATE images SET favourite = ? WHERE id = ?", (int(favourite), str(image_id)))
        return True

    def delete(self, image_id: str, owner: str | None = None) -> bool:
        """Delete one of the owner's images; False if there is none of that id that is theirs. It is
        unlisted and unserved at once (the listeners drop its copies), and can be brought back with
        `undo` for UNDO_S; then `purge` removes it for good."""
        entry = self.get(image_id, owner)
        if not self.mine(entry, owner):
            return False
        with self._lock:
            self._db.execute("UPDATE images SET deleted = ? WHERE id = ?", (time.time(), entry.id))
        for listener in self.on_remove:
            listener(entry.id, entry.path)
        self.purge()
        return True

    def undo(self, owner: str | None = None) -> Entry | None:
        """Bring back the owner's latest deletion of the last UNDO_S (a grid's images one by one);
        None if there is none."""
        self.purge()
        where = "owner = ?" if self.private else "1"
        with self._lock:
            row = self._db.execute(
                f"SELECT id FROM images WHERE deleted IS NOT NULL AND {where} ORDER BY deleted DESC LIMIT 1",
                (owner,) if self.private else (),
            ).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE images SET deleted = NULL WHERE id = ?", (row[0],))
        return self.get(row[0], owner)

    def purge(self, now: float | None = None) -> int:
        """Remove for good the images deleted over UNDO_S ago; how many."""
        cutoff = (time.time() if now is None else now) - UNDO_S
        with self._lock:
            doomed = [r[0] for r in self._db.execute("SELECT id FROM images WHERE deleted < ?", (cutoff,))]
        return self._remove(*doomed) if doomed else 0

    def _remove(self, *image_ids: str) -> int:
        """Remove index rows first, all in one transaction (the images disappear at once, and a kill
        leaves none of a grid half-expired), then their files, and the inputs that no other image's
        recipe names any more. Returns how many there were."""
        recipes = {}
        with self._lock:
            with self._transaction():
                for image_id in image_ids:
                    row = self._db.execute("SELECT recipe FROM images WHERE id = ?", (image_id,)).fetchone()
                    if row is not None:
                        recipes[image_id] = json.loads(row[0])
                        self._db.execute("DELETE FROM images WHERE id = ?", (image_id,))
            shas = {sha for r in recipes.values() for sha in r.get("inputs", {}).values() if isinstance(sha, str)}
            named = "SELECT 1 FROM images WHERE recipe LIKE ?"
            unused = [sha for sha in shas if not self._db.execute(named, (f"%{sha}%",)).fetchone()]
        for image_id in recipes:
            path = self.images_dir / f"{image_id}.png"
            for listener in self.on_remove:  # before the file goes: a listener may read it
                listener(image_id, path)
            path.unlink(missing_ok=True)
        for sha in unused:
            if path := self.input_path(sha):
                path.unlink(missing_ok=True)
        return len(recipes)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def over_cap(rows: list[tuple], images: int | None, megabytes: float | None, caps: list[str], whose: str) -> list[str]:
    """Ids of the oldest images to remove from `rows` (id, bytes, kept: shared or just saved, batch;
    newest first) so the rest fit `images` and `megabytes`: a batch (a grid) goes whole, but for its
    kept images. Names each cap that removed some in `caps`."""
    batches: dict[str, list[tuple]] = {}
    for row in reversed(rows):  # oldest first
        batches.setdefault(row[3], []).append(row)
    doomed: list[str] = []
    count, size = len(rows), sum(row[1] or 0 for row in rows)
    for members in batches.values():
        too_many = images is not None and count > images
        too_big = megabytes is not None and size > megabytes * 2**20
        if not (too_many or too_big):
            break
        going = [(image_id, nbytes) for image_id, nbytes, kept, _ in members if not kept]
        if not going:
            continue
        doomed += [image_id for image_id, _ in going]
        count, size = count - len(going), size - sum(nbytes or 0 for _, nbytes in going)
        cap = f"{whose}: {images} images" if too_many else f"{whose}: {megabytes:g} MB"
        if cap not in caps:
            caps.append(cap)
    return doomed
