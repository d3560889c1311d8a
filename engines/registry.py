"""Which models exist for each task: bundled checkpoints, hub presets, and paths typed by users.

A checkpoint folder in checkpoints/ is found by its `atelier.json` ({"task": "vae", ...}), so a
newly trained model shows up with no code change; a model that serves other tasks too lists them
({"task": "text", "also": ["edit"]}: the text model inpaints in the Edit tab); a fine-tune that
holds only a UNet names the text model it completes ({"task": "edit", "base": "emoji-ldm"}) and is
unavailable without it. Hub presets are listed always; offline and not in the local Hugging Face
cache, they are marked unavailable with the reason.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engines.limits import DEFAULT_SCHEDULER, SCHEDULERS

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = Path(os.environ.get("ATELIER_CHECKPOINTS", ROOT / "checkpoints"))

HUB_PRESETS: dict[str, list[tuple[str, str]]] = {
    "vae": [
        ("stabilityai/sd-vae-ft-mse", "SD VAE ft-MSE (AutoencoderKL, 8x)"),
        ("madebyollin/taesd", "TAESD (AutoencoderTiny, fast)"),
    ],
    "dit": [("facebook/DiT-XL-2-256", "DiT-XL/2, 256², the 1,000 ImageNet classes (GPU)")],
    "upscale": [("stabilityai/stable-diffusion-x4-upscaler", "SD ×4 upscaler (prompt-guided diffusion; GPU)")],
    "text": [
        ("stabilityai/sd-turbo", "SD-Turbo (512², 1–4 steps, no guidance; GPU)"),
        ("stabilityai/sdxl-turbo", "SDXL-Turbo (512², 1–4 steps, no guidance; GPU)"),
    ],
    "image_to_image": [
        ("stabilityai/sd-turbo", "SD-Turbo (512², 2–4 steps × strength ≥ 1, no guidance; GPU)"),
        ("stabilityai/sdxl-turbo", "SDXL-Turbo (512², 2–4 steps × strength ≥ 1, no guidance; GPU)"),
    ],
    "edit": [
        ("stabilityai/stable-diffusion-2-inpainting", "SD 2 inpainting (512²; GPU)"),
        ("diffusers/stable-diffusion-xl-1.0-inpainting-0.1", "SDXL inpainting (1024²; GPU)"),
    ],
}
# What a hub model was made for, as a bundled model's atelier.json says it: the Turbo models are
# distilled for 1-4 steps without guidance, at 512x512.
HUB_SETTINGS: dict[str, dict[str, Any]] = {
    "stabilityai/sd-turbo": {"steps": 1, "guidance_scale": 0.0, "image_size": 512},
    "stabilityai/sdxl-turbo": {"steps": 1, "guidance_scale": 0.0, "image_size": 512},
    "stabilityai/stable-diffusion-2-inpainting": {"steps": 25, "guidance_scale": 7.5, "image_size": 512},
    "diffusers/stable-diffusion-xl-1.0-inpainting-0.1": {"steps": 25, "guidance_scale": 8.0, "image_size": 1024},
}


@dataclass(frozen=True)
class ModelSpec:
    id: str  # what the UI shows and recipes record: a bundled folder name, a repo id or a path
    task: str
    source: str  # "bundled", "hub" or "local"
    location: str  # folder path or repo id
    title: str = ""
    available: bool = True
    reason: str = ""  # why it is unavailable
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # from atelier.json

    @property
    def label(self) -> str:
        text = f"{self.id} — {self.title}" if self.title else self.id
        return text if self.available else f"{text} (unavailable: {self.reason})"


def prompted_upscaler(spec: ModelSpec) -> bool:
    """Whether an upscale model is a prompt-guided diffusion pipeline (the SD ×4 upscaler's layout, on
    the hub or in a folder), not the studio's own network."""
    return spec.source == "hub" or (Path(spec.location) / "model_index.json").is_file()


def read_settings(folder: Path) -> dict[str, Any] | None:
    path = folder / "atelier.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def serves(settings: dict[str, Any], task: str) -> bool:
    """Whether a checkpoint's atelier.json makes it a model of `task` (its own, or one it also serves)."""
    also = settings.get("also")
    return settings.get("task", task) == task or (isinstance(also, list) and task in also)


MODEL_FILES = ("config.json", "model_index.json")


def local_paths_allowed() -> bool:
    """Typing a server folder is for your own machine; on a public Space it is off unless allowed."""
    default = "0" if os.environ.get("SPACE_ID") else "1"
    return os.environ.get("ATELIER_ALLOW_LOCAL_PATHS", default).lower() in ("1", "true", "yes")


def hub_repo_allowed(repo_id: str, presets: set[str]) -> bool:
    """Any repo id on your own machine; on a public Space only the presets and the repos its owner lists
    in ATELIER_HUB_ALLOWLIST (comma-separated; "*" for any), so that visitors cannot make it download
    whatever they type."""
    listed = os.environ.get("ATELIER_HUB_ALLOWLIST")
    if listed is None and not os.environ.get("SPACE_ID"):
        return True
    allowed = {name.strip() for name in (listed or "").split(",") if name.strip()}
    return "*" in allowed or repo_id in allowed or repo_id in presets


_hub_reachable: bool | None = None
_hub_lock = threading.Lock()


def hub_offline_reason() -> str:
    """'' when the Hugging Face Hub can be reached, else why not. Checked once per process."""
    global _hub_reachable
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "offline mode (HF_HUB_OFFLINE is set)"
    with _hub_lock:
        if _hub_reachable is None:
            from huggingface_hub import constants

            host = urlparse(constants.ENDPOINT).hostname or ""
            try:
                with socket.create_connection((host, 443), timeout=2):
                    _hub_reachable = True
            except OSError:
                _hub_reachable = False
    return "" if _hub_reachable else "the Hugging Face Hub cannot be reached (no network)"


def hub_cached(repo_id: str) -> bool:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id, local_files_only=True)
        return True
    except Exception:
        return False


def unknown_scheduler(settings: dict[str, Any]) -> str:
    """Why a checkpoint whose atelier.json names a default scheduler outside our list cannot load; ""
    when it names none or a known one (emoji-inpaint's "Euler a")."""
    name = settings.get("scheduler", DEFAULT_SCHEDULER)
    if name == DEFAULT_SCHEDULER or (isinstance(name, str) and name in SCHEDULERS):
        return ""
    return f"its atelier.json names the scheduler {str(name)[:80]!r}; known: {', '.join(SCHEDULERS)}"


class Registry:
    def __init__(
        self, checkpoints_dir: Path = CHECKPOINTS_DIR, hub_presets: dict[str, list[tuple[str, str]]] | None = None
    ):
        self.checkpoints_dir = Path(checkpoints_dir)
        self.hub_presets = HUB_PRESETS if hub_presets is None else hub_presets

    def bundled(self, task: str) -> list[ModelSpec]:
        if not self.checkpoints_dir.is_dir():
            return []
        specs = (self.bundled_spec(folder, task) for folder in sorted(self.checkpoints_dir.iterdir()))
        return [spec for spec in specs if spec is not None]

    def bundled_spec(self, folder: Path, task: str) -> ModelSpec | None:
        """The model in one folder of checkpoints/, if it serves `task`."""
        settings = read_settings(folder)
        if not (settings and serves(settings, task)):
            return None
        reason = self.missing_base(settings) or unknown_scheduler(settings)
        return ModelSpec(
            folder.name, task, "bundled", str(folder), settings.get("title", ""), not reason, reason, settings
        )

    def missing_base(self, settings: dict[str, Any]) -> str:
        """Why a fine-tune cannot load when the text model it is made from (its "base", e.g.
        emoji-inpaint's emoji-ldm) is not among the checkpoints; "" when it is there, or needs none."""
        base = settings.get("base")
        if base is None:
            return ""
        found = isinstance(base, str) and "/" not in base and read_settings(self.checkpoints_dir / base)
        return "" if found and serves(found, "text") else f"it needs the text model {str(base)[:100]}, not installed"

    def hub(self, task: str) -> list[ModelSpec]:
        specs = []
        for repo_id, title in self.hub_presets.get(task, []):
            reason = "" if hub_cached(repo_id) else hub_offline_reason()
            settings = HUB_SETTINGS.get(repo_id, {})
            specs.append(ModelSpec(repo_id, task, "hub", repo_id, title, not reason, reason, settings))
        return specs

    def models(self, task: str) -> list[ModelSpec]:
        """Every model for a task, bundled first (the first available one is the default)."""
        return self.bundled(task) + self.hub(task)

    def default(self, task: str) -> ModelSpec | None:
        return next((m for m in self.models(task) if m.available), None)

    def resolve(self, task: str, model_id: str) -> ModelSpec:
        """A model by id: a listed one, a local folder path, or any hub repo id ('owner/name')."""
        from engines.errors import InputError

        if not isinstance(model_id, str) or not model_id.strip():
            raise InputError("choose a model")
        if len(model_id) > 1000:
            raise InputError("that model name is too long: use a model from the list, a repo id or a folder")
        model_id = model_id.strip().split(" — ")[0]  # accept a dropdown label as well as an id
        # a bundled model's id is its folder's name: read that folder alone, not every model's settings
        named = self.checkpoints_dir / model_id
        if (
            named.parent == self.checkpoints_dir
            and model_id not in (".", "..")
            and (spec := self.bundled_spec(named, task))
        ):
            return spec
        for spec in self.hub(task):
            if spec.id == model_id:
                return spec
        path = Path(model_id).expanduser()
        if local_paths_allowed() and path.is_dir() and any((path / f).is_file() for f in MODEL_FILES):
            settings = read_settings(path) or {}
            if not serves(settings, task):
                raise InputError(f"{model_id} is a {settings['task']} model, not a {task} model")
            return ModelSpec(model_id, task, "local", str(path.resolve()), settings.get("title", ""), settings=settings)
        parts = model_id.split("/")
        if len(parts) == 2 and all(
            p and len(p) <= 96 and p.replace("-", "").replace("_", "").replace(".", "").isalnum() for p in parts
        ):
            presets = {repo for repo, _ in self.hub_presets.get(task, [])}
            if not hub_repo_allowed(model_id, presets):
                raise InputError(
                    f"{model_id} is not one of this studio's {task} models; its owner can allow more hub models "
                    "(ATELIER_HUB_ALLOWLIST)"
                )
            reason = "" if hub_cached(model_id) else hub_offline_reason()
            settings = HUB_SETTINGS.get(model_id, {})
            return ModelSpec(model_id, task, "hub", model_id, "", not reason, reason, settings)
        known = ", ".join(s.id for s in self.models(task)) or "none"
        raise InputError(
            f"unknown {task} model {model_id[:200]!r}: use one of {known}, a local folder, or a hub repo id"
        )
