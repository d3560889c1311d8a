"""The runtime: device choice, seed contract, and the model cache."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from engines.errors import InputError, ModelUnavailable
from engines.limits import MAX_SEED, check_int, check_seed
from engines.runtime import ModelCache, choose_runtime, seeded_noise


def test_cpu_defaults_to_fp32():
    runtime = choose_runtime({"ATELIER_DEVICE": "cpu"})
    assert runtime.device.type == "cpu" and runtime.dtype == torch.float32
    assert "cpu" in runtime.describe()


def test_dtype_override_and_bad_values():
    assert choose_runtime({"ATELIER_DEVICE": "cpu", "ATELIER_DTYPE": "bfloat16"}).dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match="ATELIER_DTYPE"):
        choose_runtime({"ATELIER_DEVICE": "cpu", "ATELIER_DTYPE": "int3"})
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            choose_runtime({"ATELIER_DEVICE": "cuda"})


def test_batch_row_i_equals_single_draw_with_seed_plus_i():
    batch = seeded_noise((4, 3, 5, 5), seed=123)
    for i in range(4):
        assert torch.equal(batch[i], seeded_noise((1, 3, 5, 5), seed=123 + i)[0])
    assert not torch.equal(batch[0], batch[1])


@pytest.mark.parametrize("seed", [-2, 2**70, 1.5, "abc", None, True, float("nan"), float("inf")])
def test_bad_seeds(seed):
    with pytest.raises(InputError, match="seed"):
        check_seed(seed)


def test_seed_minus_one_is_random_with_room_for_the_batch():
    seeds = {check_seed(-1, count=MAX_SEED) for _ in range(20)}
    assert seeds <= {0, 1} and len({check_seed(-1) for _ in range(20)}) > 1


def test_seed_room_for_the_batch():
    assert check_seed(MAX_SEED) == MAX_SEED
    assert check_seed("7") == 7 and check_seed(7.0) == 7
    with pytest.raises(InputError):
        check_seed(MAX_SEED, count=2)


@pytest.mark.parametrize("value", [0, 65, 2.5, "x", float("nan"), None, True])
def test_check_int_rejects(value):
    with pytest.raises(InputError, match="count"):
        check_int("count", value, 1, 64)


def test_cache_loads_once_under_concurrency():
    cache, calls = ModelCache(budget_bytes=10**9), []

    def load():
        calls.append(1)
        time.sleep(0.2)
        return torch.nn.Linear(2, 2)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(("m", "cpu"), load))) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and len({id(r.model) for r in results}) == 1


def test_cache_evicts_least_recently_used():
    layer_bytes = 4 * (100 * 100 + 100)
    cache = ModelCache(budget_bytes=2 * layer_bytes)
    for key in "abc":
        cache.get(key, lambda: torch.nn.Linear(100, 100))
        if key == "b":
            cache.get("a", lambda: pytest.fail("a was cached"))  # touch a: b becomes least recent
    assert set(cache.keys()) == {"a", "c"}


def test_failed_load_is_a_clear_error_and_harms_nothing():
    cache = ModelCache(budget_bytes=10**9)
    good = cache.get("good", lambda: torch.nn.Linear(2, 2))

    def broken():
        raise FileNotFoundError("weights.safetensors")

    with pytest.raises(ModelUnavailable, match=r"could not load broken.*weights\.safetensors"):
        cache.get(("broken", "cpu"), broken)
    assert cache.get("good", lambda: pytest.fail("reloaded")) is good
    assert cache.get(("broken", "cpu"), lambda: torch.nn.Linear(1, 1)).model is not None  # a later fix loads


def test_loads_take_turns_so_no_model_is_built_on_the_meta_device():
    """diffusers loads under accelerate's init_empty_weights, which patches torch for the whole process:
    a model built in another thread meanwhile would get meta weights. The cache makes loads take turns."""
    from accelerate import init_empty_weights

    cache, inside = ModelCache(), threading.Event()

    def diffusers_like_load():
        with init_empty_weights():
            inside.set()
            time.sleep(0.5)
            return torch.nn.Linear(2, 2)

    first = threading.Thread(target=cache.get, args=("pipeline", diffusers_like_load))
    first.start()
    inside.wait(5)
    built_meanwhile = cache.get("gan", lambda: torch.nn.Linear(3, 3)).model
    first.join()
    assert built_meanwhile.weight.device.type == "cpu"
