"""Top-down texture of the road surface in straightened road coordinates.

Rows follow arc length ``s`` (``RES_S`` metres per row), columns follow the lateral offset
``d`` from the left verge to the right verge (``RES_D`` metres per column). Everything fixed to
the ground is painted here once: asphalt or concrete, shoulders, gravel, grass, markings (with
dashes, wear and gaps) and shadows. The renderer samples it with ``cv2.remap``; the texture
keeps three levels of it, BGRx, with mirrored grass beside the verges (see
:meth:`GroundTexture.widen`).

The texture is a ring buffer of chunks: only the stretch around the ego vehicle exists, and
chunks are painted as the vehicle advances. Each chunk depends only on the seed and its index,
so the result does not depend on when it was painted.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import cv2
import numpy as np

from av_perception.sim.config import SimConfig
from av_perception.sim.road import Road

RES_S = 0.05
RES_D = 0.025
CHUNK_ROWS = 256
MIP = 4  # the coarse level is MIP times smaller in both directions
FAR = 4  # the far level is the coarse one made FAR times shorter along s
BASE_ROWS = 1024  # period of the base (noise) tile along s
VERGE_M = 9.0  # grass beyond the shoulder that the texture holds (farther out: mirrored)

WHITE_PAINT = (215, 222, 224)
YELLOW_PAINT = (45, 175, 222)


@dataclass(frozen=True)
class Appearance:
    """Colours and lighting of one world, drawn per seed from the configuration."""

    surface: str
    road_colour: tuple[float, float, float]
    shoulder_colour: tuple[float, float, float]
    gravel_colour: tuple[float, float, float]
    grass_colour: tuple[float, float, float]
    grass_colour2: tuple[float, float, float]
    sky_zenith: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    haze_colour: tuple[float, float, float]
    tree_colour: tuple[float, float, float]
    cloudiness: float
    sun_azimuth: float  # radians, relative to the road direction, for cast shadows
    shadow_length: float
    brightness: float
    contrast: float
    time_of_day: str
    ambient: float  # light level without the ego headlights (1 by day)


def draw_appearance(config: SimConfig, rng: np.random.Generator) -> Appearance:
    """Draw the look of a world from ``config`` with ``rng``."""
    surface = config.surface
    if surface == 'random':
        surface = 'concrete' if rng.random() < 0.3 else 'asphalt'
    if surface == 'concrete':
        grey = float(rng.uniform(140, 175))
        road = (grey - 2, grey, grey + 2)
        shoulder = (grey * 0.62, grey * 0.63, grey * 0.64)
    else:
        grey = float(rng.uniform(72, 100))
        road = (grey + 3, grey + 1, grey)
        shoulder = (grey * 1.08 + 3, grey * 1.08 + 1, grey * 1.08)
    dry = float(rng.uniform(0.0, 1.0))
    grass = (40 + 10 * dry, 95 + 25 * dry, 70 + 70 * dry)
    grass2 = (30 + 15 * dry, 75 + 20 * dry, 55 + 60 * dry)
    ambient = {'day': 1.0, 'dusk': 0.13, 'night': 0.05}[config.time_of_day]
    if config.time_of_day == 'dusk':
        zenith, horizon = (70, 38, 28), (120, 140, 205)
        haze = (70, 70, 85)
        trees = (30, 30, 32)
    elif config.time_of_day == 'night':
        zenith, horizon = (20, 10, 6), (52, 42, 38)
        haze = (24, 24, 28)
        trees = (8, 8, 10)
    else:
        blue = float(rng.uniform(0.0, 1.0))
        zenith = (205 - 25 * blue, 150 - 30 * blue, 95 - 35 * blue)
        horizon = (232, 222, 212)
        haze = (205, 203, 198)
        trees = (75 + 10 * blue, 95, 80)
    return Appearance(
        surface=surface, road_colour=road, shoulder_colour=shoulder,
        gravel_colour=(110, 125, 135), grass_colour=grass, grass_colour2=grass2,
        sky_zenith=zenith, sky_horizon=horizon, haze_colour=haze, tree_colour=trees,
        cloudiness=float(rng.uniform(0.0, 0.7)),
        sun_azimuth=float(rng.uniform(0.6, 2.5) * rng.choice((-1.0, 1.0))),
        shadow_length=float(rng.uniform(6.0, 16.0)),
        brightness=float(rng.uniform(*config.brightness_range)),
        contrast=float(rng.uniform(*config.contrast_range)),
        time_of_day=config.time_of_day, ambient=ambient)


@dataclass(frozen=True)
class Shadow:
    """A shadow on the ground: polygons in road coordinates (columns s, d) and darkness."""

    s_min: float
    s_max: float
    polygons: tuple[np.ndarray, ...]
    darkness: float


class ShadowField:
    """Tree and pole shadows cast across the road, made lazily per 100 m block.

    Each block draws its shadows from its own random stream, so what exists at some ``s``
    never depends on which stretches were asked for before.
    """

    BLOCK_M = 100.0
    REACH_M = 40.0  # no shadow extends farther than this from its block

    def __init__(self, road: Road, appearance: Appearance, per_100m: float, seed: int) -> None:
        """Remember the parameters; nothing is drawn yet."""
        self.road = road
        self.appearance = appearance
        self.per_100m = per_100m
        self.seed = int(seed)
        self._blocks: dict[int, list[Shadow]] = {}
        self._casters: dict[int, list[tuple[str, float, float, float]]] = {}

    def casters_between(self, s0: float, s1: float) -> list[tuple[str, float, float, float]]:
        """Return ``(kind, s, d, radius)`` of the trees and poles standing in ``[s0, s1)``."""
        if self.per_100m <= 0:
            return []
        out = []
        first = int(math.floor(max(s0, 0.0) / self.BLOCK_M))
        last = int(math.floor(max(s1, 0.0) / self.BLOCK_M))
        for block in range(first, last + 1):
            if block not in self._blocks:
                self._blocks[block] = self._make_block(block)
            out += [c for c in self._casters[block] if s0 <= c[1] < s1]
        return out

    def between(self, s0: float, s1: float) -> list[Shadow]:
        """Shadows overlapping ``[s0, s1]``."""
        if self.per_100m <= 0:
            return []
        first = int(math.floor((s0 - self.REACH_M) / self.BLOCK_M))
        last = int(math.floor((s1 + self.REACH_M) / self.BLOCK_M))
        out = []
        for block in range(max(first, 0), last + 1):
            if block not in self._blocks:
                self._blocks[block] = self._make_block(block)
            out += [sh for sh in self._blocks[block] if sh.s_max >= s0 and sh.s_min <= s1]
        return out

    def _make_block(self, block: int) -> list[Shadow]:
        rng = np.random.default_rng([self.seed, 606, block])
        app, road = self.appearance, self.road
        edge = road.half_width + road.shoulder_width
        az = app.sun_azimuth
        cast = np.array([-math.cos(az), -math.sin(az)])  # direction of the shadows in (s, d)
        side = -1.0 if cast[1] > 0 else 1.0  # the trees stand on the sunny side
        shadows = []
        casters = []
        self._casters[block] = casters
        for _ in range(int(rng.poisson(self.per_100m * self.BLOCK_M / 100.0))):
            s = (block + float(rng.random())) * self.BLOCK_M
            # every shadow has its caster: the scenery draws these trees and poles
            kind = int(rng.choice(2, p=(0.75, 0.25)))
            if kind == 1:  # pole
                base = np.array([s, side * (edge + rng.uniform(0.5, 3.0))])
                tip = base + cast * app.shadow_length * float(rng.uniform(0.8, 1.6))
                normal = np.array([-cast[1], cast[0]]) * 0.12
                polys = [np.array([base - normal, base + normal, tip + normal * 0.6,
                                   tip - normal * 0.6])]
                darkness = float(rng.uniform(0.35, 0.5))
                casters.append(('pole', float(base[0]), float(base[1]), 0.12))
            else:  # tree crown: a cluster of wobbly blobs
                base = np.array([s, side * (edge + rng.uniform(1.0, 5.0))])
                crown = base + cast * app.shadow_length * float(rng.uniform(0.6, 1.3))
                radius = float(rng.uniform(2.5, 5.5))
                ang = np.linspace(0.0, 2 * math.pi, 14, endpoint=False)
                polys = []
                for _ in range(int(rng.integers(4, 9))):
                    centre = crown + rng.normal(0.0, radius * 0.45, 2)
                    r = radius * float(rng.uniform(0.35, 0.75)) \
                        * (1.0 + 0.18 * rng.standard_normal(14))
                    polys.append(np.stack([centre[0] + r * np.cos(ang),
                                           centre[1] + r * np.sin(ang)], axis=1))
                darkness = float(rng.uniform(0.45, 0.62))
                casters.append(('tree', float(base[0]), float(base[1]), radius))
            s_all = np.concatenate([p[:, 0] for p in polys])
            shadows.append(Shadow(float(s_all.min()), float(s_all.max()), tuple(polys),
                                  darkness))
        return shadows


def _periodic_noise(rng: np.random.Generator, rows: int, cols: int, cell: int) -> np.ndarray:
    """Smooth noise in about [-1, 1], periodic along rows, with features ``cell`` texels big."""
    small_r = max(2, rows // cell)
    small_c = max(2, cols // cell + 2)
    small = rng.standard_normal((small_r, small_c)).astype(np.float32)
    padded = np.vstack([small, small[:3]])  # wrap so the tile repeats seamlessly
    big = cv2.resize(padded, ((small_c) * cell, (small_r + 3) * cell),
                     interpolation=cv2.INTER_CUBIC)
    return big[:rows, :cols]


def pingpong(excess: np.ndarray, band: float) -> np.ndarray:
    """Fold distances ``excess >= 0`` beyond an edge back and forth into ``[0, band]``."""
    period = 2 * band
    # np.mod is slow on float32; a floor-based remainder is exact enough here
    t = excess - np.floor(excess * (1.0 / period)) * period
    return np.where(t < band, t, period - t)


def _texels(image: np.ndarray) -> np.ndarray:
    """View a contiguous (rows, cols, 4) uint8 image as (rows, cols) 32-bit texels."""
    return image.view(np.uint32)[:, :, 0]


def mirror_columns(cols: int, band: int, pad: int) -> np.ndarray:
    """Source column of each of ``cols + 2 * pad`` columns that extend a texture by ``pad``.

    Beyond either edge the outer ``band`` columns repeat, mirrored back and forth.
    """
    index = np.arange(-pad, cols + pad)
    low = index < 0
    index[low] = pingpong(-index[low], band)
    high = index > cols - 1
    index[high] = cols - 1 - pingpong(index[high] - (cols - 1), band)
    return index


class GroundTexture:
    """Ring buffer of the painted road surface around the ego vehicle, in three levels.

    ``level0`` is the full texture, ``level1`` is ``MIP`` times smaller in both directions,
    ``level2`` is ``level1`` made ``FAR`` times shorter along ``s`` (for distant ground,
    which is foreshortened along the road far more than across it).
    """

    def __init__(self, road: Road, appearance: Appearance, shadows: ShadowField, seed: int,
                 ring_length_m: float) -> None:
        """Prepare the base tile; chunks are painted lazily by :meth:`ensure`."""
        self.road = road
        self.appearance = appearance
        self.shadows = shadows
        self.seed = int(seed)
        self.d_max = road.half_width + road.shoulder_width + VERGE_M
        cols = int(math.ceil(2 * self.d_max / RES_D))
        self.cols = cols + (-cols) % MIP
        self.chunk_length = CHUNK_ROWS * RES_S
        self.n_chunks = int(math.ceil(ring_length_m / self.chunk_length))
        self.rows = self.n_chunks * CHUNK_ROWS
        self.loaded = np.full(self.n_chunks, -1, dtype=np.int64)
        self.grass_cols = int(0.8 * VERGE_M / RES_D)
        self._col_d = self.d_max - (np.arange(self.cols) + 0.5) * RES_D
        self.base = self._base_tile()
        self.widen((0, 0, 0))

    def widen(self, pads: tuple[int, int, int]) -> None:
        """Store ``pads[k]`` extra columns on both sides of level ``k``.

        The extra columns repeat the outer grass bands mirrored back and forth (as
        :func:`mirror_columns` says), so a lookup beyond the verge needs no folding of its
        coordinate as long as it stays within the padding. Column ``c`` of level ``k`` is
        stored at ``c + pads[k]``. Painted chunks are forgotten.
        """
        self.pads = tuple(int(p) for p in pads)
        cols = (self.cols, self.cols // MIP, self.cols // MIP)
        bands = (self.grass_cols, self.grass_cols // MIP, self.grass_cols // MIP)
        rows = (self.rows, self.rows // MIP, self.rows // (MIP * FAR))
        # BGRx: four channels are remapped several times faster than three
        self.level0, self.level1, self.level2 = (
            np.zeros((r, c + 2 * p, 4), np.uint8) for r, c, p in zip(rows, cols, self.pads))
        self._index = [mirror_columns(c, b, p) for c, b, p in zip(cols, bands, self.pads)]
        self.loaded[:] = -1

    # -- coordinates -----------------------------------------------------------------------
    def col_of(self, d: np.ndarray | float) -> np.ndarray | float:
        """Level-0 column coordinate (remap convention: texel centres are integers) of ``d``."""
        return (self.d_max - d) / RES_D - 0.5

    def row_of(self, s: np.ndarray | float) -> np.ndarray | float:
        """Level-0 row coordinate of ``s`` before wrapping into the ring."""
        return np.asarray(s) / RES_S - 0.5

    # -- painting --------------------------------------------------------------------------
    def _base_tile(self) -> np.ndarray:
        """Surface, shoulder, gravel and grass with noise; periodic along s."""
        app = self.appearance
        rng = np.random.default_rng([self.seed, 101])
        rows, cols = BASE_ROWS, self.cols
        d = np.abs(self._col_d)
        edge = self.road.half_width + 0.1
        shoulder_end = self.road.half_width + self.road.shoulder_width
        concrete = app.surface == 'concrete'
        # per column: base colour, second colour (grass mix) and noise amplitudes
        zone = np.select([d <= edge, d <= shoulder_end, d <= shoulder_end + 0.5],
                         [0, 1, 2], 3)
        colours = np.array([app.road_colour, app.shoulder_colour, app.gravel_colour,
                            app.grass_colour], np.float32)
        second = colours.copy()
        second[3] = app.grass_colour2
        amp = np.array([[0.045, 0.02 if concrete else 0.05, 0.025 if concrete else 0.07],
                        [0.05, 0.03, 0.09], [0.05, 0.12, 0.18], [0.06, 0.16, 0.22]],
                       np.float32)
        # darker wheel tracks (and a lighter strip between them) in every lane
        tracks = np.zeros(cols, np.float32)
        for lane in range(self.road.num_lanes_total):
            centre = self.road.lane_center_d(lane)
            for offset in (-0.85, 0.85):
                tracks += np.exp(-0.5 * ((self._col_d - centre - offset) / 0.28) ** 2)
            tracks -= 0.5 * np.exp(-0.5 * ((self._col_d - centre) / 0.3) ** 2)
        col_gain = 1.0 - (0.05 if concrete else 0.07) * tracks * (zone == 0)
        blotch = _periodic_noise(rng, rows, cols, 48)
        fine = _periodic_noise(rng, rows, cols, 3)
        grain = rng.standard_normal((rows, cols), dtype=np.float32)
        a = amp[zone]
        lum = 1.0 + a[None, :, 0] * blotch + a[None, :, 1] * fine + a[None, :, 2] * grain
        lum *= col_gain[None, :]
        mix = np.clip(0.5 + 0.8 * blotch, 0.0, 1.0)
        base = colours[zone]
        diff = second[zone] - base
        out = (base[None, :, :] + diff[None, :, :] * (1.0 - mix)[:, :, None]) \
            * lum[:, :, None]
        # ragged gravel/grass edge that wanders along s
        ragged = _periodic_noise(rng, rows, 1, 64)[:, 0] * 0.12 \
            + _periodic_noise(rng, rows, 1, 8)[:, 0] * 0.05
        band = np.flatnonzero(np.abs(d - (shoulder_end + 0.5)) < 0.3)
        if len(band):
            gravel = d[band][None, :] <= shoulder_end + 0.5 + ragged[:, None]
            gravel_col = colours[2] * (1.0 + 0.12 * fine[:, band] + 0.18 * grain[:, band]
                                       )[:, :, None]
            grass_col = out[:, band]
            out[:, band] = np.where(gravel[:, :, None], gravel_col, grass_col)
        return np.clip(out, 0, 255).astype(np.uint8)

    def ensure(self, s_from: float, s_to: float) -> None:
        """Make sure every chunk overlapping ``[s_from, s_to]`` is painted in the ring."""
        first = int(math.floor(max(0.0, s_from) / self.chunk_length))
        last = int(math.floor(max(0.0, s_to) / self.chunk_length))
        if last - first + 1 > self.n_chunks:
            last = first + self.n_chunks - 1
        for chunk in range(first, last + 1):
            slot = chunk % self.n_chunks
            if self.loaded[slot] != chunk:
                self._paint_chunk(chunk, slot)
                self.loaded[slot] = chunk

    def _paint_chunk(self, chunk: int, slot: int) -> None:
        rng = np.random.default_rng([self.seed, 202, chunk])
        start = chunk * CHUNK_ROWS
        base_rows = (start + np.arange(CHUNK_ROWS)) % BASE_ROWS
        tile = self.base[base_rows].astype(np.float32)
        s_rows = (start + np.arange(CHUNK_ROWS) + 0.5) * RES_S
        self._paint_surface_details(tile, s_rows, rng)
        for marking in self.road.markings:
            self._paint_marking(tile, s_rows, marking, rng)
        self._paint_shadows(tile, start)
        painted = np.clip(tile, 0, 255).astype(np.uint8)
        painted = cv2.cvtColor(painted, cv2.COLOR_BGR2BGRA)
        cols1 = self.cols // MIP
        small = cv2.resize(painted, (cols1, CHUNK_ROWS // MIP), interpolation=cv2.INTER_AREA)
        far = cv2.resize(small, (cols1, CHUNK_ROWS // (MIP * FAR)),
                         interpolation=cv2.INTER_AREA)
        # one 32-bit texel per column: the padding is a cheap gather of whole texels
        for source, index, level in zip((painted, small, far), self._index,
                                        (self.level0, self.level1, self.level2)):
            n = len(source)
            np.take(_texels(source), index, axis=1, out=_texels(level[slot * n:(slot + 1) * n]),
                    mode='clip')  # the indices are valid; 'raise' would buffer the output

    def _road_columns(self) -> slice:
        edge = self.road.half_width + 0.05
        lo = int(max(0, self.col_of(edge)))
        hi = int(min(self.cols, self.col_of(-edge) + 1))
        return slice(lo, hi)

    def _paint_surface_details(self, tile: np.ndarray, s_rows: np.ndarray,
                               rng: np.random.Generator) -> None:
        cols = self._road_columns()
        if self.appearance.surface == 'concrete':
            # transverse joints every ~4.6 m and slab-to-slab brightness steps per lane
            joints = np.flatnonzero(np.diff(np.floor(s_rows / 4.6)) > 0)
            slab_id = np.floor(s_rows / 4.6).astype(np.int64)
            for lane in range(self.road.num_lanes_total):
                hi_d = self.road.boundary_d(lane)
                c0 = int(max(0, self.col_of(hi_d)))
                c1 = int(min(self.cols, self.col_of(hi_d - self.road.lane_width) + 1))
                slab_rng = np.random.default_rng([self.seed, 303, lane])
                gains = 1.0 + 0.035 * slab_rng.standard_normal(4096).astype(np.float32)
                tile[:, c0:c1] *= gains[slab_id % 4096][:, None, None]
            for row in joints:
                tile[row:row + 1, cols] *= 0.72
            return
        # asphalt: sealed cracks (thin dark squiggles) and the odd repair patch
        for _ in range(int(rng.poisson(0.8))):
            r0 = float(rng.uniform(0, CHUNK_ROWS))
            c0 = float(rng.uniform(cols.start, cols.stop))
            pts = [(c0, r0)]
            ang = float(rng.uniform(0, 2 * math.pi))
            for _ in range(int(rng.integers(4, 12))):
                ang += float(rng.normal(0, 0.6))
                c0 += 12 * math.cos(ang)
                r0 += 6 * math.sin(ang)
                pts.append((c0, r0))
            # only the crack's bounding box (plus the anti-aliased edge) is touched
            pts = np.array(pts)
            x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 2, 0)
            x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 3, tile.shape[1::-1])
            if x1 <= x0 or y1 <= y0:
                continue
            poly = np.round((pts - (x0, y0)) * 16).astype(np.int32)
            mask = np.zeros((y1 - y0, x1 - x0), np.float32)
            cv2.polylines(mask, [poly], False, 0.3, 1, cv2.LINE_AA, 4)
            tile[y0:y1, x0:x1] *= 1.0 - mask[:, :, None]
        if rng.random() < 0.12:
            r0 = int(rng.uniform(0, CHUNK_ROWS - 40))
            h = int(rng.uniform(20, 120))
            lane = int(rng.integers(self.road.num_lanes_total))
            c_mid = self.col_of(self.road.lane_center_d(lane))
            half = rng.uniform(20, 70)
            c0, c1 = int(max(0, c_mid - half)), int(min(self.cols, c_mid + half))
            tile[r0:r0 + h, c0:c1] *= float(rng.uniform(0.78, 0.9))

    def _paint_marking(self, tile: np.ndarray, s_rows: np.ndarray, marking,
                       rng: np.random.Generator) -> None:
        if marking.kind == 'none':
            return
        if marking.kind == 'double_yellow':
            lines = ((0.09, 0.11), (-0.09, 0.11))
        else:
            edge = marking.kind.startswith('solid') and abs(abs(marking.d)
                                                            - self.road.half_width) < 0.01
            lines = ((0.0, 0.18 if edge else 0.14),)
        colour = np.array(YELLOW_PAINT if 'yellow' in marking.kind else WHITE_PAINT,
                          np.float32)
        # coverage along s: 4 samples per row give anti-aliased dash ends
        sub = s_rows[:, None] + (np.arange(4) - 1.5)[None, :] * (RES_S / 4)
        paint = marking.painted(sub.ravel()).reshape(sub.shape).mean(axis=1)
        if not np.any(paint > 0):
            return
        worn = marking.wear(s_rows)
        wear_noise = _periodic_noise(rng, CHUNK_ROWS, 24, 6)
        for offset, width in lines:
            centre = marking.d + offset
            lo = centre - 0.5 * width
            hi = centre + 0.5 * width
            c0 = int(max(0, math.floor(self.col_of(hi)) - 1))
            c1 = int(min(self.cols, math.ceil(self.col_of(lo)) + 2))
            col_hi = self._col_d[c0:c1] + 0.5 * RES_D
            col_lo = self._col_d[c0:c1] - 0.5 * RES_D
            cover = np.clip((np.minimum(col_hi, hi) - np.maximum(col_lo, lo)) / RES_D, 0, 1)
            noise = wear_noise[:, :c1 - c0]
            alpha = paint[:, None] * cover[None, :] * (0.93 + 0.05 * noise)
            faded = np.clip(0.45 + 0.35 * noise, 0.1, 0.8)
            alpha = np.where(worn[:, None], alpha * faded, alpha).astype(np.float32)
            band = tile[:, c0:c1]
            band += alpha[:, :, None] * (colour[None, None, :] - band)

    def _paint_shadows(self, tile: np.ndarray, start_row: int) -> None:
        pad = 24
        s0 = (start_row - pad) * RES_S
        s1 = (start_row + CHUNK_ROWS + pad) * RES_S
        hits = self.shadows.between(s0, s1)
        if not hits:
            return
        mask = np.zeros((CHUNK_ROWS + 2 * pad, self.cols), np.uint8)
        used = [mask.shape[1], mask.shape[0], 0, 0]  # bounding box of everything drawn
        for sh in hits:
            pts = [np.stack([self.col_of(p[:, 1]), (p[:, 0] - s0) / RES_S], axis=1)
                   for p in sh.polygons]
            allp = np.vstack(pts)
            lo = np.maximum(np.floor(allp.min(axis=0)).astype(int) - 1, 0)
            hi = np.minimum(np.ceil(allp.max(axis=0)).astype(int) + 2,
                            [self.cols, mask.shape[0]])
            if np.any(hi <= lo):
                continue
            layer = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.uint8)
            value = int(round(255 * sh.darkness))
            for p in pts:  # one call per blob: fillPoly of several XORs their overlaps
                cv2.fillPoly(layer, [np.round((p - lo) * 16).astype(np.int32)], value,
                             cv2.LINE_AA, 4)
            roi = mask[lo[1]:hi[1], lo[0]:hi[0]]
            np.maximum(roi, layer, out=roi)
            used = [min(used[0], lo[0]), min(used[1], lo[1]), max(used[2], hi[0]),
                    max(used[3], hi[1])]
        if used[2] <= used[0] or used[3] <= used[1]:
            return
        # penumbra: soft edges a few decimetres wide; the kernel reaches 18 columns and 9
        # rows, so blurring the drawn box plus a wider margin equals blurring the whole mask
        c0, c1 = max(used[0] - 19, 0), min(used[2] + 19, mask.shape[1])
        r0, r1 = max(used[1] - 10, 0), min(used[3] + 10, mask.shape[0])
        mask[r0:r1, c0:c1] = cv2.GaussianBlur(mask[r0:r1, c0:c1], (0, 0), sigmaX=6.0,
                                              sigmaY=3.0)
        mask = mask[pad:-pad, c0:c1]
        rows = np.flatnonzero(mask.max(axis=1) > 0)
        if not len(rows):
            return
        part = mask[rows[0]:rows[-1] + 1].astype(np.float32) * (1.0 / 255.0)
        tint = np.array([0.92, 1.0, 1.06], np.float32)  # shadows are lit by the blue sky
        tile[rows[0]:rows[-1] + 1, c0:c1] *= 1.0 - part[:, :, None] * tint[None, None, :]
