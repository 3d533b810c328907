"""Roadside scenery: trees, poles and delineator posts (drawn, but not ground-truth objects).

Items are made lazily per 100 m block from their own random stream (like the shadows), so what
stands at some ``s`` never depends on the drive. Trees and poles that cast the shadows of a
:class:`~av_perception.sim.texture.ShadowField` stand where their shadows say.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from av_perception.sim.road import Road
from av_perception.sim.texture import ShadowField

TREE, POLE, POST = 0, 1, 2

TREE_GREENS = ((38, 82, 46), (34, 70, 52), (45, 95, 60), (30, 62, 40), (52, 98, 78))


@dataclass(frozen=True)
class SceneryItem:
    """One roadside item at road coordinates ``(s, d)``; ``size`` is its height in metres."""

    kind: int
    s: float
    d: float
    size: float
    width: float
    look: int


class Scenery:
    """Roadside items along a road, generated per block on demand."""

    BLOCK_M = 100.0

    def __init__(self, road: Road, shadows: ShadowField, trees_per_100m: float,
                 post_spacing_m: float, seed: int) -> None:
        """Remember the parameters; nothing is generated yet."""
        self.road = road
        self.shadows = shadows
        self.trees_per_100m = trees_per_100m
        self.post_spacing_m = post_spacing_m
        self.seed = int(seed)
        self._blocks: dict[int, list[SceneryItem]] = {}

    def between(self, s0: float, s1: float) -> list[SceneryItem]:
        """Items whose position lies in ``[s0, s1]``."""
        out = []
        first = int(math.floor(max(s0, 0.0) / self.BLOCK_M))
        last = int(math.floor(max(s1, 0.0) / self.BLOCK_M))
        for block in range(first, last + 1):
            if block not in self._blocks:
                self._blocks[block] = self._make_block(block)
            out += [item for item in self._blocks[block] if s0 <= item.s <= s1]
        return out

    def _make_block(self, block: int) -> list[SceneryItem]:
        rng = np.random.default_rng([self.seed, 707, block])
        road = self.road
        edge = road.half_width + road.shoulder_width
        s0 = block * self.BLOCK_M
        items = []
        for _ in range(int(rng.poisson(self.trees_per_100m * self.BLOCK_M / 100.0))):
            side = float(rng.choice((-1.0, 1.0)))
            d = side * (edge + float(rng.uniform(4.0, 25.0)))
            items.append(SceneryItem(TREE, s0 + float(rng.uniform(0, self.BLOCK_M)), d,
                                     float(rng.uniform(5.0, 12.0)), float(rng.uniform(3, 7)),
                                     int(rng.integers(1 << 30))))
        for shadow in self.shadows.casters_between(s0, s0 + self.BLOCK_M):
            kind, s, d, radius = shadow
            if kind == 'tree':
                items.append(SceneryItem(TREE, s, d, float(rng.uniform(8.0, 13.0)),
                                         2.2 * radius, int(rng.integers(1 << 30))))
            else:
                items.append(SceneryItem(POLE, s, d, float(rng.uniform(7.0, 9.0)), 0.25, 0))
        if self.post_spacing_m > 0:
            spacing = self.post_spacing_m
            k0 = int(math.ceil(s0 / spacing))
            for k in range(k0, int(math.ceil((s0 + self.BLOCK_M) / spacing))):
                for side in (-1.0, 1.0):
                    items.append(SceneryItem(POST, k * spacing, side * (edge + 0.7), 1.0,
                                             0.1, 1 if side > 0 else 0))
        return items
