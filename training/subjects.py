"""Subjects: the emoji of each category grouped into small sets of like things, a third label for
the class-conditional GAN (`train_gan --conditional --subjects 8`).

A category such as Food & Drink holds ~130 unlike objects (grapes, a hot dog, a teapot), each
seen once per art set. A GAN asked for "food" then has to place all of them in one label
embedding and, at this size, paints their average: food-coloured blobs. Conditioning on finer
groups found in the data, as self-conditioned GANs do with clusters (Liu et al. 2020), gives it
a handful of like things per label instead ("grapes, cherries, strawberry, pear, ..."). When
sampling, the subject is drawn from the image's seed among the chosen category's subjects, so
the pickers stay category and style.

Emoji are grouped by what their captions say (MiniLM sentence embeddings), not by their pixels,
so a subject holds one emoji in all four art sets, and the grouping owns nothing of the feature
network the quality harness measures with. Within each category, balanced k-means: every group
has about the same number of emoji. Held-out emoji join the nearest group (for checks only).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

ITERATIONS = 30
TITLE_NAMES = 3  # a subject's title: its emoji nearest the group's centre


@dataclass
class Subjects:
    of_emoji: dict[str, int]  # emoji hexcode -> subject index
    names: list[str]  # ids, e.g. "grapes" (the emoji nearest the group's centre)
    titles: list[str]  # for people, e.g. "grapes, cherries, strawberry"
    category: list[int]  # subject index -> the category it belongs to


def balanced_assign(similarity: torch.Tensor, capacity: int) -> torch.Tensor:
    """Each row to a column, most similar pairs first, no column taking more than `capacity` rows."""
    rows, columns = similarity.shape
    assign = torch.full((rows,), -1)
    room = torch.full((columns,), capacity)
    for flat in torch.argsort(similarity.flatten(), descending=True).tolist():
        i, j = divmod(flat, columns)
        if assign[i] < 0 and room[j] > 0:
            assign[i] = j
            room[j] -= 1
    return assign


def balanced_kmeans(x: torch.Tensor, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Spherical k-means on unit vectors with equal-sized groups: (centres [k', D], group of each row).
    A centre left with no rows (k groups of ceil(n / k) can hold n rows with one to spare) is dropped,
    so k' <= k and every group has members."""
    centres = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:k]].clone()
    capacity = math.ceil(len(x) / k)
    for _ in range(ITERATIONS):
        assign = balanced_assign(x @ centres.T, capacity)
        for j in range(k):
            if (assign == j).any():
                centres[j] = F.normalize(x[assign == j].mean(0), dim=0)
    used, assign = torch.unique(assign, return_inverse=True)
    return centres[used], assign


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def group_subjects(data: dict[str, np.ndarray], per_subject: int = 8) -> Subjects:
    """Subjects of about `per_subject` train emoji each, within each category of the emoji data set
    (`training.data.load(size)`, both splits)."""
    from engines.text_encoder import shared_minilm

    hexcodes, first = np.unique(data["hexcode"], return_index=True)
    categories, heldout = data["category"][first], data["heldout"][first]
    labels = [str(label) for label in data["label"][first]]
    embeddings = shared_minilm().embed([str(caption) for caption in data["caption"][first]])
    subject_of = np.zeros(len(hexcodes), dtype=int)
    names, titles, owners = [], [], []
    for c in range(len(data["category_names"])):
        train = np.nonzero((categories == c) & ~heldout)[0]
        if not len(train):
            continue
        centres, assign = balanced_kmeans(embeddings[train], max(1, round(len(train) / per_subject)))
        offset = len(names)
        subject_of[train] = assign.numpy() + offset
        held = np.nonzero((categories == c) & heldout)[0]
        if len(held):
            subject_of[held] = (embeddings[held] @ centres.T).argmax(1).numpy() + offset
        for j, centre in enumerate(centres):
            members = train[assign.numpy() == j]
            nearest = members[np.argsort(-(embeddings[members] @ centre).numpy())][:TITLE_NAMES]
            names.append(slug(labels[nearest[0]]))
            titles.append(", ".join(labels[i] for i in nearest))
            owners.append(c)
    return Subjects(dict(zip(map(str, hexcodes), subject_of.tolist(), strict=True)), names, titles, owners)
