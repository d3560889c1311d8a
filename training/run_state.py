"""A training run's resumable state, the same for every trainer: runs/<name>/last.pt holds the
state dicts of its parts (models, EMA copies, optimizers) by name, the step, the seconds trained
so far and anything else the trainer keeps. It is written atomically, so a run killed mid-save
resumes from the previous checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

FILE = "last.pt"


def load_run(run_dir: Path, parts: dict[str, Any], device: torch.device) -> tuple[int, float, dict[str, Any]]:
    """Restore every part from run_dir/last.pt, if a run is there. Returns (step, seconds trained,
    the file's other entries): (0, 0.0, {}) for a new run."""
    last = Path(run_dir) / FILE
    if not last.exists():
        return 0, 0.0, {}
    state = torch.load(last, map_location=device, weights_only=True)  # weights_only: never unpickle code
    for key, part in parts.items():
        part.load_state_dict(state.pop(key))
    step, elapsed = state.pop("step"), state.pop("elapsed")
    print(f"resumed {run_dir} at step {step} ({elapsed / 60:.1f} min trained)")
    return step, elapsed, state


def save_run(run_dir: Path, parts: dict[str, Any], step: int, elapsed: float, **extra: Any) -> None:
    """Write run_dir/last.pt: a temporary file first, then an atomic rename over the old one."""
    state = {key: part.state_dict() for key, part in parts.items()} | {"step": step, "elapsed": elapsed, **extra}
    tmp = Path(run_dir) / (FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(Path(run_dir) / FILE)
