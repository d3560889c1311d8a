"""The run skeleton every trainer shares (each trainer stays a top-to-bottom script).

- The flags: `--steps` (the step to train to), `--minutes` (stop, with a checkpoint, after this
  long), `--run-dir` (the resumable state), `--out` (the export folder), `--export-only`.
- The device: CUDA where there is one, else the CPU.
- The resumable state: <run-dir>/last.pt holds the state dicts of its parts (models, EMA copies,
  optimizers) by name, the step, the seconds trained so far and anything else the trainer keeps.
  It is written atomically, so a run killed mid-save resumes from the previous checkpoint.
- Run segments: a resumed run may change its recipe (a loss, augmentation, colour words); its
  history holds one segment per stretch trained with one recipe, which the model card lists.
- The command written into a model card: the arguments a run was given, less this machine's folders.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import torch

FILE = "last.pt"


def load_run(
    run_dir: Path, parts: dict[str, Any], device: torch.device, new: frozenset[str] = frozenset()
) -> tuple[int, float, dict[str, Any], set[str]]:
    """Restore every part from run_dir/last.pt, if a run is there. Returns (step, seconds trained,
    the file's other entries, the parts that start afresh): (0, 0.0, {}, every part) for a new run.
    Parts named in `new` may be missing from the file (a resumed run that gained them): they keep
    their fresh weights and are among those returned as starting afresh."""
    last = Path(run_dir) / FILE
    if not last.exists():
        return 0, 0.0, {}, set(parts)
    state = torch.load(last, map_location=device, weights_only=True)  # weights_only: never unpickle code
    fresh = _load(parts, state, new, last)
    step, elapsed = state.pop("step"), state.pop("elapsed")
    print(f"resumed {run_dir} at step {step} ({elapsed / 60:.1f} min trained)")
    return step, elapsed, state, fresh


def _load(parts: dict[str, Any], state: dict[str, Any], new: frozenset[str], source: Path) -> set[str]:
    """Load each part's entry from `state` (taking it out); those in `new` that it lacks are skipped and returned."""
    fresh = {key for key in parts if key in new and key not in state}
    for key, part in parts.items():
        if key in fresh:
            print(f"{key}: not in {source}, starts afresh")
        else:
            part.load_state_dict(state.pop(key))
    return fresh


def save_run(run_dir: Path, parts: dict[str, Any], step: int, elapsed: float, **extra: Any) -> None:
    """Write run_dir/last.pt: a temporary file first, then an atomic rename over the old one."""
    state = {key: part.state_dict() for key, part in parts.items()} | {"step": step, "elapsed": elapsed, **extra}
    tmp = Path(run_dir) / (FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(Path(run_dir) / FILE)


def save_compact(path: Path, networks: dict[str, Any], step: int, elapsed: float, recipe: dict[str, Any]) -> None:
    """The compact state a run keeps in the repository for a new machine: the fp16 weights of each
    network by name, the step, the time trained and the recipe; written whole or not at all."""
    state = {name: {k: v.half() for k, v in net.state_dict().items()} for name, net in networks.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({**state, "step": step, "elapsed": elapsed, "recipe": json.dumps(recipe)}, tmp)
    tmp.replace(path)


def load_compact(
    path: Path, networks: dict[str, Any], device: torch.device, new: frozenset[str] = frozenset()
) -> tuple[int, float, dict[str, Any], set[str]]:
    """Load a compact state (save_compact) into the networks; (step, seconds trained, the recipe,
    the networks that start afresh). Networks named in `new` may be missing from it (as in load_run)."""
    state = torch.load(path, map_location=device, weights_only=True)
    fp32 = {k: {n: v.float() for n, v in net.items()} if k in networks else net for k, net in state.items()}
    fresh = _load(networks, fp32, new, path)
    print(f"resumed from {path} at step {state['step']} ({state['elapsed'] / 60:.1f} min trained)")
    return state["step"], state["elapsed"], json.loads(state["recipe"]), fresh


def linear_decay(step: int, decay_from: int | None, steps: int) -> float:
    """CycleGAN's schedule, as a factor of the learning rate: 1, then (from `decay_from`) linearly
    down to 0 at `steps`; always 1 without `decay_from`."""
    if decay_from is None or step < decay_from:
        return 1.0
    return max(0.0, (steps - step) / max(1, steps - decay_from))


def choose_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def card_command(module: str, argv: list[str], private: tuple[str, ...] = ("--run-dir", "--out")) -> str:
    """`python -m <module> <arguments>` for a model card: the arguments given, less --export-only and
    the flags in `private` with their values (this machine's folders, card text), which are no recipe."""
    given = list(argv)
    for flag in private:
        if flag in given:
            del given[given.index(flag) : given.index(flag) + 2]
    return f"python -m {module} " + shlex.join(a for a in given if a != "--export-only")


def next_segment(history: list[dict[str, Any]], step: int, recipe: dict[str, Any], same: bool) -> None:
    """Go on with the last segment when this (resumed) run trains with the same recipe; else start a
    new one at `step`. The trainer moves the last segment's `to_step` as it trains."""
    if not same:
        history.append({"from_step": step, "to_step": step, **recipe})
