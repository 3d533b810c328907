"""Rendering of the forward camera image: sky, ground, road users, light and sensor effects.

Speed comes from doing per-pixel work only in OpenCV calls and keeping the Python work per
frame small:

* the ground is one ``cv2.remap`` per band of rows from the straightened road texture. The
  maps are quadratic per row, so both are one matrix product of per-row coefficients; the
  texture levels are BGRx (OpenCV remaps four channels several times faster than three) and
  wide enough (mirrored grass) that folding lookups beyond the verge is rarely needed; distant
  rows sample a level prefiltered along the road instead of many sub-rows;
* the sky is a slice of a precomputed panorama;
* road users are anti-aliased polygons projected in one product per vehicle, with parts too
  small to see left out; their contact shadows are one mask and one multiplication;
* the sensor effects are one affine map (contrast, brightness) and saturating additions.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import math

import cv2
import numpy as np

from av_perception.sim.camera import PinholeCamera
from av_perception.sim.config import SimConfig
from av_perception.sim.models import cached_model, Model, person_figure, ROLES
from av_perception.sim.road import Road
from av_perception.sim.scenery import POLE, POST, Scenery, SceneryItem, TREE_GREENS
from av_perception.sim.texture import (Appearance, FAR, GroundTexture, MIP, pingpong,
                                       RES_D, RES_S)
from av_perception.sim.traffic import AgentView, HAIR, PERSON, SKIN, TRUCK
from av_perception.sim.vehicle import VehicleState

NEAR_M = 0.3  # near clipping plane of polygons (camera z)
MAX_HEADING_DEG = 75.0  # beyond this relative heading the per-row road lookup stops
SUN_DIRECTION = np.array([0.45, 0.35, 0.82]) / np.linalg.norm([0.45, 0.35, 0.82])
NOISE_FRAMES = 8
MIN_PART_PX = 1.0  # parts of road users smaller than this on screen are left out
SMALL_VEHICLE_PX = 10.0  # vehicles less tall than this on screen are drawn without details
PERSON_ROLES = ('shirt', 'trousers', 'skin', 'hair', 'shoe')
_RING_COS = np.cos(np.linspace(0, 2 * math.pi, 12, endpoint=False))
_RING_SIN = np.sin(np.linspace(0, 2 * math.pi, 12, endpoint=False))
# ground rows whose pixels reach farther than this along the road use the far texture level,
# sampled by sub-rows at most FAR_SPACING_M apart (the nearer levels: 0.75 m)
FAR_LEVEL_M = 1.5
FAR_SPACING_M = 2.0 * MIP * FAR * RES_S  # two texel rows of the far level
# mirrored grass stored beside the ground texture levels (metres per side; farther: folded)
PAD0_MAX_M = 8.0
PAD_MAX_M = 200.0

ROLE_COLOURS = {
    'glass': (58, 50, 45), 'trim': (38, 38, 40), 'trim_grey': (110, 112, 115),
    'under': (16, 16, 18), 'tyre': (24, 24, 26), 'rim': (150, 152, 155),
    'tail': (40, 30, 150), 'head': (195, 200, 205), 'plate': (210, 216, 218),
    'shoe': (30, 30, 35), 'reflector': (45, 40, 175)}
EMISSIVE_DUSK = {'tail': (60, 50, 255), 'head': (235, 250, 255)}


@dataclass(frozen=True)
class _Band:
    """Ground rows rendered together: canvas rows, sub-row geometry and texture level."""

    row_start: int
    row_end: int
    level: int
    supersample: int
    sub_index: slice


def headlight_gain(x_forward: np.ndarray, y_left: np.ndarray) -> np.ndarray:
    """Extra illumination from the ego headlights on a ground point (camera-relative, m)."""
    x = np.maximum(x_forward, 0.5)
    spread = 0.2 * x + 0.9
    return 1.1 * np.exp(-0.5 * (y_left / spread) ** 2) / (1.0 + (x / 24.0) ** 2)


def clip_near(points: np.ndarray) -> np.ndarray:
    """Clip a camera-frame polygon (N, 3) against z >= NEAR_M (Sutherland-Hodgman)."""
    out = []
    n = len(points)
    for i in range(n):
        a, b = points[i], points[(i + 1) % n]
        a_in, b_in = a[2] >= NEAR_M, b[2] >= NEAR_M
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (NEAR_M - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if out else np.zeros((0, 3))


class Renderer:
    """Draws frames of one world for one camera; all caches live here."""

    def __init__(self, camera: PinholeCamera, config: SimConfig, road: Road,
                 appearance: Appearance, texture: GroundTexture, seed: int,
                 models: dict[int, Model], scenery: Scenery | None = None) -> None:
        """Precompute everything that does not change from frame to frame."""
        self.camera = camera
        self.config = config
        self.road = road
        self.appearance = appearance
        self.texture = texture
        self.seed = int(seed)
        # dusk and night: ambient light is low, the ego headlights and lamps matter
        self.dusk = appearance.time_of_day != 'day'
        self._setup_canvas()
        self._focal = np.array([self.canvas.fx, self.canvas.fy])
        self._centre = np.array([self.canvas.cx, self.canvas.cy])
        self._k16 = np.diag([16.0, 16.0, 1.0]) @ self.canvas.k_matrix
        self._haze_colour = np.array(appearance.haze_colour, np.float64)
        self._rotation = self.canvas.rotation.tolist()
        self._setup_ground()
        self._setup_sky()
        self._setup_effects()
        self._models = models
        self.scenery = scenery
        self._colour_cache: dict[int, object] = {}

    # -- set-up ----------------------------------------------------------------------------
    def _setup_canvas(self) -> None:
        cam = self.camera
        self._tan_half_fov = max(cam.cx, cam.width - cam.cx) / cam.fx
        if not cam.distorted:
            self.canvas = cam
            self._distortion_maps = None
            return
        # The lens maps the output frame to a region of the ideal image; render that region
        # (plus a margin for interpolation) and resample once.
        w, h = cam.width, cam.height
        uu, vv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        ideal = cam.undistort_pixels(np.stack([uu.ravel(), vv.ravel()], axis=1))
        lo = np.floor(ideal.min(axis=0)) - 2
        hi = np.ceil(ideal.max(axis=0)) + 2
        lo = np.maximum(lo, [-w / 2, -h / 2])
        hi = np.minimum(hi, [1.5 * w, 1.5 * h])
        size = (hi - lo).astype(int) + 1
        self.canvas = cam.with_canvas(int(size[0]), int(size[1]), cam.cx - lo[0],
                                      cam.cy - lo[1])
        canvas = self.canvas
        self._tan_half_fov = max(canvas.cx, canvas.width - canvas.cx) / canvas.fx
        map_x = (ideal[:, 0] - lo[0]).reshape(h, w).astype(np.float32)
        map_y = (ideal[:, 1] - lo[1]).reshape(h, w).astype(np.float32)
        self._distortion_maps = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)

    def _setup_ground(self) -> None:
        cam = self.canvas
        rows = np.arange(cam.height, dtype=np.float64)
        ground = cam.ground_point(np.full_like(rows, cam.cx), rows)
        forward = ground[:, 0] - cam.x_m
        valid = np.isfinite(forward) & (forward <= self.config.max_render_distance_m)
        valid &= forward > 0
        if not np.any(valid):
            self.ground_start = cam.height
            self.bands = []
            self._sub_x = self._sub_t = np.zeros(0)
            return
        self.ground_start = int(np.argmax(valid))
        c, s = math.cos(cam.pitch), math.sin(cam.pitch)

        def geometry(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            b = (v - cam.cy) / cam.fy
            t = cam.height_m / (s + b * c)
            return t * (c - b * s), t  # forward distance from the camera, ray scale

        v_rows = rows[self.ground_start:]
        with np.errstate(divide='ignore', invalid='ignore'):
            fwd, t = geometry(v_rows)
            fwd_prev, _ = geometry(v_rows - 1.0)
        fwd_prev = np.where(np.isfinite(fwd_prev) & (fwd_prev > 0), fwd_prev, 1e6)
        lateral_fp = t / cam.fx
        long_fp = np.abs(fwd_prev - fwd)
        level = (lateral_fp > 2.0 * RES_D).astype(int)
        # the far level is prefiltered along s: fewer sub-rows for the same footprint
        level[(level == 1) & (long_fp > FAR_LEVEL_M)] = 2
        spacing = np.where(level == 2, FAR_SPACING_M, 0.75)
        most = np.where(level == 2, 4, 8)
        supersample = np.clip(np.ceil(long_fp / spacing), 1, most).astype(int)
        # powers of two only: fewer bands, fewer remap calls
        supersample = (2 ** np.ceil(np.log2(supersample))).astype(int)
        supersample[0] = most[0]
        bands = []
        sub_v = []
        start = 0
        count = 0
        for i in range(1, len(v_rows) + 1):
            if i == len(v_rows) or level[i] != level[start] or supersample[i] != \
                    supersample[start]:
                ss = int(supersample[start])
                vs = v_rows[start:i]
                offsets = (np.arange(ss) + 0.5) / ss - 0.5
                subs = (vs[:, None] + offsets[None, :]).ravel()
                sub_v.append(subs)
                bands.append(_Band(self.ground_start + start, self.ground_start + i,
                                   int(level[start]), ss, slice(count, count + len(subs))))
                count += len(subs)
                start = i
        self.bands = bands
        sub_v = np.concatenate(sub_v)
        sub_fwd, sub_t = geometry(sub_v)
        # beyond the render distance (first rows) clamp so the texture lookup stays sane
        self._sub_x = cam.x_m + np.minimum(sub_fwd, self.config.max_render_distance_m)
        self._sub_t = sub_t
        self._setup_lookup(np.concatenate([np.full(b.sub_index.stop - b.sub_index.start,
                                                   b.level) for b in bands]))
        self._u = np.arange(cam.width, dtype=np.float32)
        # haze and headlights per ground row: ground = ground * gain + haze, both uint8
        vis = self.config.haze_visibility_m
        haze = (1.0 - np.exp(-fwd / vis))[:, None, None] * np.ones((1, cam.width, 3))
        gain = 1.0 - haze
        self._ground_scale = 1.0 / 255.0
        if self.dusk:
            lateral = (cam.cx - self._u[None, :].astype(np.float64)) * (t[:, None] / cam.fx)
            beam = np.minimum(headlight_gain(fwd[:, None], lateral), 0.95)
            # bluish ambient twilight plus warm headlight light
            ambient = self.appearance.ambient
            light = ambient * np.array([1.3, 1.0, 0.75])[None, None, :] \
                + beam[:, :, None] * np.array([0.85, 0.95, 1.0])[None, None, :]
            gain = np.minimum(light * 160.0, 255.0) / 160.0 * gain
            self._ground_scale = 1.0 / 160.0
        lit = np.flatnonzero((np.abs(gain - 1.0) > 0.002).any(axis=(1, 2)))
        self._ground_rows = None
        if len(lit):
            r0, r1 = lit.min(), lit.max() + 1
            self._ground_rows = (self.ground_start + r0, self.ground_start + r1)
            self._ground_gain = np.round(gain[r0:r1] / self._ground_scale).astype(np.uint8)
            colour = np.array(self.appearance.haze_colour, np.float64)
            self._haze_add = np.round(haze[r0:r1] * colour).astype(np.uint8)

    def _setup_sky(self) -> None:
        cam = self.canvas
        app = self.appearance
        rng = np.random.default_rng([self.seed, 404])
        height = max(1, min(cam.height, self.ground_start + 1))
        width = int(round(2 * math.pi * cam.fx))
        horizon = cam.horizon_row
        rows = np.arange(height, dtype=np.float64)
        frac = np.clip((horizon - rows) / max(horizon, 1.0), 0.0, 1.0) ** 0.55
        zen = np.array(app.sky_zenith)
        hor = np.array(app.sky_horizon)
        sky_col = hor[None, :] * (1 - frac[:, None]) + zen[None, :] * frac[:, None]
        pano = np.repeat(sky_col[:, None, :], width, axis=1).astype(np.float32)
        if not self.dusk and app.cloudiness > 0.05:
            big = _periodic_field(rng, height, width, 110, 30)
            small = _periodic_field(rng, height, width, 30, 10)
            noise = 0.8 * big + 0.3 * small
            threshold = 1.1 - 0.9 * app.cloudiness
            cover = np.clip((noise - threshold) / 1.1, 0.0, 1.0)
            cover = cover * cover * (3 - 2 * cover)  # smoothstep: soft cloud edges
            cover *= 0.9 * np.clip(frac[:, None] * 2.5, 0.0, 1.0)  # thinner at the horizon
            shade = (0.93 + 0.05 * np.clip(small, -1, 1))[:, :, None]
            white = np.array([242.0, 241.0, 240.0], np.float32)
            pano += cover[:, :, None] * (white * shade - pano)
        # distant tree line and hills standing on the horizon
        scale = cam.fx / 500.0
        hills = _periodic_profile(rng, width, 40) * 10 * scale
        trees = np.abs(_periodic_profile(rng, width, 5)) * 9 * scale
        gaps = _periodic_profile(rng, width, 120) > -0.3
        top = horizon - (4 * scale + np.maximum(hills, 0) + trees * gaps)
        tree = np.array(app.tree_colour, np.float32)
        blotch = _periodic_field(rng, height, width, 6, 3)
        depth = np.clip((rows[:, None] - top[None, :]) / (12 * scale), 0, 1)
        shade = (0.92 + 0.1 * blotch - 0.12 * depth)[:, :, None]
        mask = rows[:, None] >= top[None, :]
        pano = np.where(mask[:, :, None], tree[None, None, :] * shade, pano)
        below = rows >= horizon
        if np.any(below):
            haze = np.array(app.haze_colour, np.float32)
            far_ground = 0.6 * np.array(app.grass_colour, np.float32) * 0.8 + 0.4 * haze
            if self.dusk:  # the far fields get only the twilight, no headlight
                far_ground = far_ground * (2.3 * app.ambient)
            pano[below] = pano[below] * 0.3 + far_ground * 0.7
        pano = np.clip(pano, 0, 255).astype(np.uint8)
        self._sky = np.hstack([pano, pano[:, :cam.width + 1]])
        self._sky_width = width

    def _setup_lookup(self, sub_level: np.ndarray) -> None:
        """Texture padding and the per-sub-row constants of the ground lookup.

        Each sub-row looks up its texture level along a quadratic in the column ``u``, so
        both maps of all sub-rows are one matrix product of per-row coefficients with
        ``(1, u, u^2)``. The texture is widened (mirrored grass) far enough that most rows
        need no folding; how far the view reaches beside the road is bounded by the ray
        scale, the ego position on the road and the road's bend over the distance.
        """
        cam = self.canvas
        tex = self.texture
        road = self.road
        reach = max(cam.cx, cam.width - cam.cx) * self._sub_t / cam.fx
        fwd = self._sub_x - cam.x_m
        bend = np.minimum(0.5 * self.config.max_curvature * fwd * fwd, 60.0)
        # plus a margin and a heading allowance (the ego may point ~6 degrees off the road)
        need_m = reach + road.half_width + bend + 2.0 + 0.1 * fwd - tex.d_max
        pads = []
        for level, cap_m, texel in ((0, PAD0_MAX_M, RES_D), (1, PAD_MAX_M, RES_D * MIP),
                                    (2, PAD_MAX_M, RES_D * MIP)):
            at = sub_level == level
            metres = min(float(need_m[at].max()), cap_m) if np.any(at) else 0.0
            pads.append(int(math.ceil(max(metres, 0.0) / texel)))
        tex.widen(tuple(pads))
        coarse = sub_level > 0  # levels 1 and 2 have the same columns
        self._sub_level = sub_level
        self._sub_scale_x = np.where(coarse, 1.0 / MIP, 1.0)
        self._sub_scale_y = np.choose(sub_level, (1.0, 1.0 / MIP, 1.0 / (MIP * FAR)))
        self._sub_pad = np.choose(sub_level, tex.pads).astype(np.float64)
        self._sub_cols = np.where(coarse, tex.cols // MIP, tex.cols)
        u = np.arange(cam.width, dtype=np.float64)
        self._basis = np.stack([np.ones_like(u), u, u * u]).astype(np.float32)
        self._maps = np.empty((2 * len(sub_level), cam.width), np.float32)
        # Products this small stay on the calling thread in OpenBLAS; a threaded one leaves
        # its threads spinning for a while, which takes the CPU from OpenCV.
        self._block = max(1, 131072 // (3 * cam.width))

    def _setup_effects(self) -> None:
        app = self.appearance
        cfg = self.config
        # ((x - 128) * contrast + 128) * brightness, as one affine map
        self._gain = app.contrast * app.brightness
        self._offset = 128.0 * app.brightness * (1.0 - app.contrast)
        self._noise = None
        if cfg.noise_sigma > 0:
            # one noise field; each frame uses a different window of it
            rng = np.random.default_rng([self.seed, 505])
            h, w = self.camera.height, self.camera.width
            field = rng.standard_normal((h + NOISE_FRAMES, w + 3 * NOISE_FRAMES, 3),
                                        dtype=np.float32) * cfg.noise_sigma
            field = np.clip(np.round(field), -255, 255)
            # adding the positive part and subtracting the negative one, both saturating,
            # is exactly adding the signed noise, and much faster than a mixed-type add
            self._noise = (np.maximum(field, 0).astype(np.uint8),
                           np.maximum(-field, 0).astype(np.uint8))

    # -- per frame -------------------------------------------------------------------------
    def render(self, ego: VehicleState, ego_s: float, agents: list[AgentView],
               frame_index: int) -> np.ndarray:
        """Return the BGR uint8 frame seen from ``ego``."""
        cam = self.canvas
        frame = np.empty((cam.height, cam.width, 3), np.uint8)
        self._draw_sky(frame, ego.yaw)
        self._draw_ground(frame, ego, ego_s)
        self._draw_agents(frame, ego, ego_s, agents)
        out = self._distort(frame)
        cv2.addWeighted(out, self._gain, out, 0.0, self._offset, dst=out)
        if self.config.motion_blur_px > 1:
            out = cv2.blur(out, (1, self.config.motion_blur_px))
        if self._noise is not None:
            k = frame_index % NOISE_FRAMES
            h, w = out.shape[:2]
            up, down = (n[k:k + h, 3 * k:3 * k + w] for n in self._noise)
            cv2.add(out, up, dst=out)
            cv2.subtract(out, down, dst=out)
        return out

    def _distort(self, frame: np.ndarray) -> np.ndarray:
        if self._distortion_maps is None:
            return frame
        m1, m2 = self._distortion_maps
        return cv2.remap(frame, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def _draw_sky(self, frame: np.ndarray, yaw: float) -> None:
        rows = self._sky.shape[0]
        start = int(round(-yaw * self.canvas.fx - self.canvas.cx)) % self._sky_width
        frame[:rows] = self._sky[:, start:start + self.canvas.width]

    def _draw_ground(self, frame: np.ndarray, ego: VehicleState, ego_s: float) -> None:
        if not self.bands:
            return
        cam = self.canvas
        tex = self.texture
        max_d = self.config.max_render_distance_m
        tex.ensure(ego_s - 20.0, ego_s + max_d + 40.0)
        # reference line around the ego vehicle, in the vehicle frame
        s_ref = ego_s + np.arange(-10.0, max_d * 1.2 + 30.0, 2.0)
        s_ref = s_ref[(s_ref >= 0) & (s_ref <= self.road.length)]
        wx, wy, wh = self.road.pose_at(s_ref)
        cy_, sy_ = math.cos(ego.yaw), math.sin(ego.yaw)
        dx, dy = wx - ego.x, wy - ego.y
        xs = dx * cy_ + dy * sy_
        ys = -dx * sy_ + dy * cy_
        phi = np.angle(np.exp(1j * (wh - ego.yaw)))
        kappa = self.road.curvature_at(s_ref)
        ok = (np.abs(phi) < math.radians(MAX_HEADING_DEG))
        ok &= np.concatenate(([True], np.diff(xs) > 1e-3))
        end = int(np.argmin(ok)) if not np.all(ok) else len(ok)
        start = int(np.argmax(xs > self._sub_x.min() - 5.0)) if np.any(xs > 0) else 0
        start = max(0, min(start, end - 2) - 1)
        xs, ys, s_ref, phi, kappa = (a[start:end] for a in (xs, ys, s_ref, phi, kappa))
        xq = self._sub_x
        inside = xq <= (xs[-1] if len(xs) else -1e9)
        yc = np.interp(xq, xs, ys)
        sc = np.interp(xq, xs, s_ref)
        ph = np.interp(xq, xs, phi)
        kp = np.interp(xq, xs, kappa)
        # no road at this distance (it turned away): all verge
        yc = np.where(inside, yc, -1e4)
        ph = np.where(inside, ph, 0.0)
        kp = np.where(inside, kp, 0.0)
        sin_p, cos_p = np.sin(ph), np.cos(ph)
        beta = -self._sub_t / cam.fx
        alpha = cam.cx * self._sub_t / cam.fx - yc
        # d = dY cos(phi) - kappa/2 (dY sin(phi))^2, s = s_c + dY sin(phi), dY = alpha + beta u
        q = 0.5 * kp * sin_p * sin_p
        inv_d = 1.0 / RES_D
        # coefficients of both maps per sub-row, in the sub-row's texture level (padded)
        scale, scale_y = self._sub_scale_x, self._sub_scale_y
        n = len(scale)
        coef = np.zeros((2 * n, 3))
        coef[:n, 0] = ((tex.d_max - alpha * cos_p + q * alpha * alpha) * inv_d) * scale \
            - 0.5 + self._sub_pad
        coef[:n, 1] = ((-beta * cos_p + 2.0 * q * alpha * beta) * inv_d) * scale
        coef[:n, 2] = (q * beta * beta * inv_d) * scale
        coef[n:, 0] = (np.mod((sc + alpha * sin_p) / RES_S - 0.5, tex.rows) + 0.5) \
            * scale_y - 0.5
        coef[n:, 1] = (beta * sin_p / RES_S) * scale_y
        coef = coef.astype(np.float32)
        maps = self._maps
        for a in range(0, 2 * n, self._block):  # small blocks: see _setup_lookup
            np.matmul(coef[a:a + self._block], self._basis, out=maps[a:a + self._block])
        map_x, map_y = maps[:n], maps[n:]
        self._fold_rows(map_x, coef[:n])
        for band in self.bands:
            sl = band.sub_index
            source = (tex.level0, tex.level1, tex.level2)[band.level]
            pixels = cv2.remap(source, map_x[sl], map_y[sl], cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_WRAP)
            rows = len(pixels)
            while rows > band.row_end - band.row_start:  # average sub-rows pairwise
                rows //= 2  # halving with linear interpolation is the mean of two rows
                pixels = cv2.resize(pixels, (cam.width, rows), interpolation=cv2.INTER_LINEAR)
            cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR, dst=frame[band.row_start:band.row_end])
        if self._ground_rows is not None:  # headlights at dusk, haze
            r0, r1 = self._ground_rows
            ground = frame[r0:r1]
            cv2.multiply(ground, self._ground_gain, dst=ground, scale=self._ground_scale)
            cv2.add(ground, self._haze_add, dst=ground)

    def _fold_rows(self, map_x: np.ndarray, coef: np.ndarray) -> None:
        """Fold lookups beyond the padded texture back into its grass bands, in place.

        Each row is the quadratic ``coef[r] . (1, u, u^2)``, so its range over the frame is
        known without scanning the map; only rows leaving the padded texture are folded.
        """
        last_u = float(len(self._basis[0]) - 1)
        c0, c1, c2 = coef[:, 0], coef[:, 1], coef[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            vertex = np.where(c2 != 0.0, np.clip(-c1 / (2.0 * c2), 0.0, last_u), 0.0)
        at_end = c0 + last_u * (c1 + last_u * c2)
        at_vertex = c0 + vertex * (c1 + vertex * c2)
        low = np.minimum(np.minimum(c0, at_end), at_vertex)
        high = np.maximum(np.maximum(c0, at_end), at_vertex)
        pad = self._sub_pad
        outside = (low < 0.0) | (high > self._sub_cols + 2.0 * pad - 1.0)
        if not np.any(outside):
            return
        tex = self.texture
        for level, cols, band in ((0, tex.cols, tex.grass_cols),
                                  (1, tex.cols // MIP, tex.grass_cols // MIP),
                                  (2, tex.cols // MIP, tex.grass_cols // MIP)):
            rows = np.flatnonzero(outside & (self._sub_level == level))
            if not len(rows):
                continue
            shift = np.float32(tex.pads[level])
            part = map_x[rows] - shift
            _fold(part, cols, band)
            part += shift
            map_x[rows] = part

    # -- road users ------------------------------------------------------------------------
    def reuse(self, models: dict[int, Model]) -> None:
        """Start over in the same world (after a reset): new model cache, no colour cache."""
        self._models = models
        self._colour_cache.clear()

    def forget(self, keep: set[int]) -> None:
        """Drop cached colours of road users that left the view."""
        for key in [k for k in self._colour_cache if k not in keep]:
            del self._colour_cache[key]

    def _light(self, forward: float, lateral: float) -> tuple[float, float]:
        """Illumination level and haze fraction at a camera-relative ground position."""
        haze = 1.0 - math.exp(-max(forward, 0.0) / self.config.haze_visibility_m)
        if not self.dusk:
            return 1.0, haze
        gain = float(headlight_gain(np.array(forward), np.array(lateral)))
        return self.appearance.ambient + 0.03 + min(gain, 0.95), haze

    def _draw_agents(self, frame: np.ndarray, ego: VehicleState, ego_s: float,
                     agents: list[AgentView]) -> None:
        cam = self.canvas
        max_d = self.config.max_render_distance_m
        placed = []
        cos_y, sin_y = math.cos(ego.yaw), math.sin(ego.yaw)
        for agent in agents:
            dx, dy = agent.x - ego.x, agent.y - ego.y
            x = dx * cos_y + dy * sin_y
            y = -dx * sin_y + dy * cos_y
            forward = x - cam.x_m
            if forward < -agent.length or forward > max_d:
                continue
            # cheap frustum test: a circle around the footprint and its shadow
            reach = 0.5 * (agent.length + agent.width) + 0.6
            if abs(y) - reach > (forward + reach) * self._tan_half_fov:
                continue
            placed.append((math.hypot(forward, y), 0, agent, x, y, agent.yaw - ego.yaw))
        if self.scenery is not None:
            items = self.scenery.between(ego_s - 5.0, ego_s + max_d)
            if items:
                wx, wy = self.road.point_at(np.array([i.s for i in items]),
                                            np.array([i.d for i in items]))
                dx, dy = wx - ego.x, wy - ego.y
                xs = (dx * cos_y + dy * sin_y).tolist()
                ys = (-dx * sin_y + dy * cos_y).tolist()
                for item, x, y in zip(items, xs, ys):
                    forward = x - cam.x_m
                    # cheap frustum test: billboards are narrow
                    if forward < 1.0 or forward > max_d or abs(y) > forward * 1.2 + item.width:
                        continue
                    placed.append((math.hypot(forward, y), 1, item, x, y, 0.0))
        placed.sort(key=lambda item: -item[0])
        self._draw_shadows(frame, *self._shadow_outlines(
            [(thing, x, y, yaw) for _, is_scenery, thing, x, y, yaw in placed
             if not is_scenery]))
        glows: list[tuple[float, float, float, tuple]] = []
        for distance, is_scenery, thing, x, y, yaw in placed:
            light, haze = self._light(x - cam.x_m, y)
            if is_scenery:
                self._draw_scenery(frame, thing, x, y, light, haze)
            elif thing.kind == PERSON:
                self._draw_person(frame, thing, x, y, light, haze)
            else:
                self._draw_vehicle(frame, thing, x, y, yaw, light, haze, glows)
        if glows:
            self._draw_glows(frame, glows)

    def _billboard(self, x: float, y: float, height: float, min_px: float
                   ) -> tuple[np.ndarray, float] | None:
        """Pixel position of the foot of an upright billboard and its pixels per metre.

        None when it is too close or less than ``min_px`` tall. Plain floats: this runs for
        every person and roadside item in view.
        """
        cam = self.canvas
        (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = self._rotation
        px, py, pz = x - cam.x_m, y, -cam.height_m  # the foot, relative to the camera
        depth = r20 * px + r21 * py + r22 * pz
        if depth < NEAR_M + 0.5:
            return None
        top_depth = depth + r22 * height
        u = cam.fx * (r00 * px + r01 * py + r02 * pz) / depth + cam.cx
        v = cam.fy * (r10 * px + r11 * py + r12 * pz) / depth + cam.cy
        v_top = cam.fy * (r10 * px + r11 * py + r12 * (pz + height)) / top_depth + cam.cy
        scale = (v - v_top) / height
        if scale * height < min_px:
            return None
        return np.array([u, v]), scale

    def _draw_flat(self, frame: np.ndarray, figure: _Flat, origin: np.ndarray, scale: float,
                   colours: list) -> None:
        """Fill the parts of a billboard figure that are large enough to see."""
        pix = np.rint((origin + figure.vertices * np.array([scale, -scale])) * 16.0)
        pix = pix.astype(np.int32)
        shown = (figure.extent * scale >= MIN_PART_PX).tolist()
        for part, (a, b) in enumerate(figure.slices):
            if shown[part]:
                cv2.fillPoly(frame, [pix[a:b]], colours[figure.colour_index[part]],
                             cv2.LINE_AA, 4)

    def _draw_scenery(self, frame: np.ndarray, item: SceneryItem, x: float, y: float,
                      light: float, haze: float) -> None:
        placement = self._billboard(x, y, item.size, 3.0)
        if placement is None:
            return
        figure = _scenery_figure(item.kind, round(item.size, 1), round(item.width, 1),
                                 item.look)
        haze_c = np.array(self.appearance.haze_colour, np.float64) * haze
        colours = np.minimum(figure.colours * (light * (1 - haze)) + haze_c, 255.0)
        self._draw_flat(frame, figure, placement[0], placement[1], colours.tolist())

    def _shadow_outlines(self, users: list[tuple[AgentView, float, float, float]]
                         ) -> tuple[np.ndarray, list[int], list[float]]:
        """Contact shadows of road users ``(agent, x, y, yaw)``, vehicles first.

        Returns the ground polygons (vehicle frame) stacked into one ``(N, 2)`` array, the
        number of points of each and their darkness. A vehicle's is its footprint, slightly
        larger and cast away from the sun; a person's is a disc.
        """
        vehicles = np.array([(x, y, yaw, a.length, a.width) for a, x, y, yaw in users
                             if a.kind != PERSON]).reshape(-1, 5)
        people = np.array([(x, y) for a, x, y, _ in users if a.kind == PERSON]).reshape(-1, 2)
        x, y, yaw, length, width = vehicles.T
        c, s = np.cos(yaw), np.sin(yaw)
        hl, hw = 0.5 * length + 0.15, 0.5 * width + 0.12
        sx = 0.35 * (SUN_DIRECTION[0] * c + SUN_DIRECTION[1] * s)
        sy = 0.35 * (-SUN_DIRECTION[0] * s + SUN_DIRECTION[1] * c)
        fx = np.stack([-hl, hl, hl, -hl], axis=1) - sx[:, None]
        fy = np.stack([-hw, -hw, hw, hw], axis=1) - sy[:, None]
        feet = np.stack([x[:, None] + fx * c[:, None] - fy * s[:, None],
                         y[:, None] + fx * s[:, None] + fy * c[:, None]], axis=2)
        discs = np.stack([people[:, :1] + 0.3 + 0.45 * _RING_COS,
                          people[:, 1:] + 0.35 * _RING_SIN], axis=2)
        ground = np.concatenate([feet.reshape(-1, 2), discs.reshape(-1, 2)])
        sizes = [4] * len(vehicles) + [len(_RING_COS)] * len(people)
        darkness = [0.45 if self.dusk else 0.62] * len(vehicles) + [0.45] * len(people)
        return ground, sizes, darkness

    def _project(self, points: np.ndarray) -> np.ndarray:
        """Canvas pixels (N, 2) of camera-frame points (N, 3) in front (no distortion)."""
        pixels = points[:, :2] / points[:, 2:3]
        pixels *= self._focal
        pixels += self._centre
        return pixels

    def _draw_shadows(self, frame: np.ndarray, outlines: np.ndarray, sizes: list[int],
                      darkness: list[float]) -> None:
        """Darken the ground under road users, all contact shadows at once.

        ``outlines`` are the ground polygons (vehicle frame) of ``sizes`` points each. They
        lie on the ground, so anything drawn later may cover them: one darkness mask and one
        multiplication before the road users are drawn. Overlapping shadows do not darken
        each other; large ones get soft edges.
        """
        if not sizes:
            return
        cam = self.canvas
        starts = np.cumsum([0] + sizes[:-1])
        ground = np.zeros((len(outlines), 3))
        ground[:, :2] = outlines
        cam_pts = cam.to_camera(ground)
        front = cam_pts[:, 2] >= NEAR_M
        any_front = np.maximum.reduceat(front, starts)
        all_front = np.minimum.reduceat(front, starts).tolist()
        safe = cam_pts.copy()
        safe[:, 2] = np.maximum(safe[:, 2], NEAR_M)
        px = self._project(safe)
        lows = np.minimum.reduceat(px, starts).tolist()
        highs = np.maximum.reduceat(px, starts).tolist()
        polys = []
        for i in np.flatnonzero(any_front).tolist():
            a = int(starts[i])
            poly, low, high = px[a:a + sizes[i]], lows[i], highs[i]
            if not all_front[i]:
                clipped = clip_near(cam_pts[a:a + sizes[i]])
                if len(clipped) < 3:
                    continue
                poly = self._project(clipped)
                low, high = poly.min(axis=0).tolist(), poly.max(axis=0).tolist()
            x0, y0 = max(math.floor(low[0]) - 3, 0), max(math.floor(low[1]) - 3, 0)
            x1 = min(math.ceil(high[0]) + 4, cam.width)
            y1 = min(math.ceil(high[1]) + 4, cam.height)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            polys.append((poly, x0, y0, x1, y1, int(round(255 * darkness[i]))))
        if not polys:
            return
        left, top = min(p[1] for p in polys), min(p[2] for p in polys)
        right, bottom = max(p[3] for p in polys), max(p[4] for p in polys)
        mask = np.zeros((bottom - top, right - left), np.uint8)
        for poly, x0, y0, x1, y1, value in polys:
            pix16 = np.rint(poly * 16.0).astype(np.int32)  # the offsets are in these units
            if y1 - y0 <= 12:  # small shadows are soft enough from anti-aliasing
                cv2.fillPoly(mask, [pix16], value, cv2.LINE_AA, 4, (-16 * left, -16 * top))
                continue
            layer = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(layer, [pix16], value, cv2.LINE_AA, 4, (-16 * x0, -16 * y0))
            # soft edges: two box filters, about a Gaussian of sigma 0.3 * blur + 0.5
            blur = max(1, int((y1 - y0) * 0.08)) | 1
            sigma = 0.3 * blur + 0.5
            box = int(round(math.sqrt(6.0 * sigma * sigma + 1.0))) | 1
            layer = cv2.blur(cv2.blur(layer, (box, box)), (box, box))
            roi = mask[y0 - top:y1 - top, x0 - left:x1 - left]
            cv2.max(roi, layer, dst=roi)
        gain = cv2.cvtColor(cv2.bitwise_not(mask), cv2.COLOR_GRAY2BGR)
        roi = frame[top:bottom, left:right]
        cv2.multiply(roi, gain, dst=roi, scale=1.0 / 255.0)

    def _draw_vehicle(self, frame: np.ndarray, agent: AgentView, x: float, y: float,
                      yaw: float, light: float, haze: float, glows: list) -> None:
        cam = self.canvas
        model = cached_model(self._models, agent.track_id, agent.kind == TRUCK, agent.length,
                             agent.width, agent.height, agent.look)
        c, s = math.cos(yaw), math.sin(yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        offset = np.array([x, y, 0.0])
        to_cam = cam.rotation @ rot  # object frame -> camera frame
        origin = cam.rotation @ (offset - cam.position)
        # homogeneous pixels in 1/16 px (fillPoly's shift of 4); the third column is depth
        image = model.vertices @ (self._k16 @ to_cam).T
        image += self._k16 @ origin
        depth = image[:, 2]
        all_front = bool(depth.min() >= NEAR_M)
        if all_front:
            pix = image[:, :2] / image[:, 2:]
            bounds = pix
        else:
            front = depth >= NEAR_M
            if not front.any():
                return
            pix = image[:, :2] / np.maximum(depth, NEAR_M)[:, None]  # only parts in front use it
            bounds = pix[front]
            part_front = np.minimum.reduceat(front, model.starts).tolist()
        (u0, v0), (u1, v1) = bounds.min(axis=0).tolist(), bounds.max(axis=0).tolist()
        if u1 < 0 or u0 >= 16 * cam.width or v1 < 0 or v0 >= 16 * cam.height or v1 - v0 < 16:
            return
        pix16 = np.rint(pix, out=pix).astype(np.int32)
        # level of detail: parts smaller than MIN_PART_PX at the vehicle's distance are left
        # out, and below SMALL_VEHICLE_PX of height all the small parts (lamps, plates, ...)
        px_per_m = cam.fy / max(float(origin[2]), NEAR_M)
        eye = rot.T @ (cam.position - offset)  # camera position in the object frame
        shown = (model.normals @ eye > model.plane) | model.always_faces
        if v1 - v0 < 16 * SMALL_VEHICLE_PX:
            shown &= ~model.detail
        else:
            shown &= model.extent >= MIN_PART_PX / px_per_m
        sun = rot.T @ SUN_DIRECTION  # sun in the object frame (fixed relative to the ego)
        shade = model.normals @ sun
        np.maximum(shade, 0.0, out=shade)
        shade *= 0.32
        shade += model.shade
        lit, emissive = self._role_colours(agent, light, haze)
        if self.dusk:
            part_emissive = emissive[model.roles]
            shade = np.where(part_emissive, 1.0, shade)
            glowing = (part_emissive & shown).tolist()
        colours = lit[model.roles]
        colours *= shade[:, None]
        colours = np.minimum(colours, 255.0, out=colours).tolist()
        shown = shown.tolist()
        ex, ey, ez = eye.tolist()
        order = sorted(model.paint_order, key=lambda comp: (
            comp[0], -((ex - comp[1]) ** 2 + (ey - comp[2]) ** 2 + (ez - comp[3]) ** 2)))
        for *_, parts in order:
            for p, a, b in parts:
                if not shown[p]:
                    continue
                if all_front or part_front[p]:
                    poly = pix16[a:b]
                else:
                    cam_pts = model.vertices[a:b] @ to_cam.T + origin
                    clipped = clip_near(cam_pts)
                    if len(clipped) < 3:
                        continue
                    poly = np.rint(self._project(clipped) * 16).astype(np.int32)
                cv2.fillPoly(frame, [poly], colours[p], cv2.LINE_AA, 4)
                if self.dusk and glowing[p]:
                    centre = poly.mean(axis=0) / 16.0
                    size = float(np.ptp(poly[:, 0])) / 16.0
                    glows.append((centre[0], centre[1], max(size, 1.0), colours[p]))

    def _role_colours(self, agent: AgentView, light: float, haze: float
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Colour per role (ROLES order) after light and haze, and which roles glow."""
        key = agent.track_id
        cached = self._colour_cache.get(key)
        if cached is None:
            app = self.appearance
            paint = np.array(agent.colour, np.float64)
            table = {name: np.array(col, np.float64) for name, col in ROLE_COLOURS.items()}
            table['paint'] = paint * 0.95
            table['paint_dark'] = paint * 0.72
            table['cargo'] = paint
            table['cab'] = np.array(agent.colour2, np.float64) * 0.95
            table['glass'] = 0.8 * table['glass'] + 0.12 * np.array(app.sky_horizon)
            base = np.array([table[name] for name in ROLES])
            emissive = np.array([self.dusk and name in EMISSIVE_DUSK for name in ROLES])
            lamp = np.array([EMISSIVE_DUSK.get(name, (0, 0, 0)) for name in ROLES], float)
            cached = (base, emissive, lamp)
            self._colour_cache[key] = cached
        base, emissive, lamp = cached
        haze_c = self._haze_colour * haze
        if not self.dusk:  # light is 1: a mix of colours, no clipping needed
            return base * (light * (1.0 - haze)) + haze_c, emissive
        lit = np.where(emissive[:, None], lamp, base * light)
        return np.minimum(lit * (1.0 - haze) + haze_c, 255.0), emissive

    def _draw_person(self, frame: np.ndarray, agent: AgentView, x: float, y: float,
                     light: float, haze: float) -> None:
        placement = self._billboard(x, y, agent.height, 2.0)
        if placement is None:
            return
        colours = self._colour_cache.get(agent.track_id)
        if colours is None:
            rng = np.random.default_rng(agent.look)
            colours = np.array([agent.colour, agent.colour2,
                                SKIN[int(rng.integers(len(SKIN)))],
                                HAIR[int(rng.integers(len(HAIR)))], ROLE_COLOURS['shoe']],
                               np.float64)  # PERSON_ROLES order
            self._colour_cache[agent.track_id] = colours
        haze_c = np.array(self.appearance.haze_colour, np.float64) * haze
        lit = np.minimum(colours * (light * (1 - haze)) + haze_c, 255.0).tolist()
        figure = _flat_figure(round(agent.height, 2), int(agent.phase * 16) % 16)
        self._draw_flat(frame, figure, placement[0], placement[1], lit)

    def _draw_glows(self, frame: np.ndarray, glows: list) -> None:
        """Soft halos around lit lamps at dusk, drawn at quarter resolution and added.

        Only the region around the lamps is touched (halos reach ~4 px beyond at 1/4 scale).
        """
        h, w = frame.shape[:2]
        pts = np.array([(u, v, size) for u, v, size, _ in glows])
        reach = pts[:, 2].max() * 0.6 + 40
        x0 = int(max(0, (pts[:, 0].min() - reach) // 4))
        y0 = int(max(0, (pts[:, 1].min() - reach) // 4))
        x1 = int(min(w // 4, (pts[:, 0].max() + reach) // 4 + 1))
        y1 = int(min(h // 4, (pts[:, 1].max() + reach) // 4 + 1))
        if x1 <= x0 or y1 <= y0:
            return
        small = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        for u, v, size, colour in glows:
            radius = max(1, int(round(size * 0.6 / 4)))
            cv2.circle(small, (int(u / 4) - x0, int(v / 4) - y0), radius,
                       tuple(0.55 * float(c) for c in colour), -1, cv2.LINE_AA)
        small = cv2.GaussianBlur(small, (0, 0), 2.0)
        roi = frame[4 * y0:4 * y1, 4 * x0:4 * x1]
        glow = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_LINEAR)
        cv2.add(roi, glow, dst=roi)


def person_polygons(camera: PinholeCamera, x: float, y: float, height: float,
                    phase: float) -> list[tuple[str, np.ndarray]]:
    """Pixel polygons of a pedestrian standing at vehicle-frame ``(x, y)``, facing the camera.

    The figure is a billboard: scaled by the projected height, which is exact enough for
    people, who are thin compared with their distance. Empty when too close or too small.
    """
    cam_pts = camera.to_camera(np.array([[x, y, 0.0], [x, y, height]]))
    if cam_pts[0, 2] < NEAR_M + 0.5:
        return []
    px = camera.camera_to_pixels(cam_pts)
    scale = (px[0, 1] - px[1, 1]) / height
    if scale * height < 2.0:
        return []
    figure = _figure(round(height, 2), int(phase * 16) % 16)
    origin = px[0]
    return [(role, origin + poly * np.array([scale, -scale])) for role, poly in figure]


@dataclass(frozen=True)
class _Flat:
    """A billboard figure as flat arrays, ready to scale and fill.

    Part ``p`` is the polygon ``vertices[a:b]`` for ``(a, b) = slices[p]`` in ``(a, z)``
    metres (``a`` to the viewer's right, ``z`` up), painted in order with colour
    ``colour_index[p]``; ``extent[p]`` is its largest size in metres.
    """

    vertices: np.ndarray
    slices: tuple[tuple[int, int], ...]
    extent: np.ndarray
    colour_index: tuple[int, ...]
    colours: np.ndarray  # scenery: BGR per colour index; people: empty (clothes vary)


def _flat(parts: list[tuple[int, np.ndarray]], colours: np.ndarray) -> _Flat:
    sizes = [len(poly) for _, poly in parts]
    ends = np.cumsum(sizes).tolist()
    return _Flat(np.vstack([poly for _, poly in parts]),
                 tuple(zip([0] + ends[:-1], ends)),
                 np.array([float(np.max(np.ptp(poly, axis=0))) for _, poly in parts]),
                 tuple(index for index, _ in parts), colours)


@functools.lru_cache(maxsize=4096)
def _figure(height: float, step: int) -> tuple[tuple[str, np.ndarray], ...]:
    """Person figures are drawn at 16 gait phases; cached because people recur every frame."""
    return tuple(person_figure(height, step / 16.0))


@functools.lru_cache(maxsize=4096)
def _flat_figure(height: float, step: int) -> _Flat:
    """:func:`_figure` as a :class:`_Flat` whose colour indices follow ``PERSON_ROLES``."""
    return _flat([(PERSON_ROLES.index(role), poly) for role, poly in _figure(height, step)],
                 np.zeros((0, 3)))


@functools.lru_cache(maxsize=2048)
def _scenery_figure(kind: int, size: float, width: float, look: int) -> _Flat:
    """Billboard of a tree, pole or delineator post; ``colours`` holds one per part."""
    parts = _scenery_parts(kind, size, width, look)
    return _flat([(i, poly) for i, (_, poly) in enumerate(parts)],
                 np.array([colour for colour, _ in parts], np.float64))


def _scenery_parts(kind: int, size: float, width: float, look: int
                   ) -> tuple[tuple[tuple[float, float, float], np.ndarray], ...]:
    """Billboard polygons ``(colour, (a, z) metres)`` of a tree, pole or delineator post."""
    if kind == POST:
        reflector = (235, 240, 240) if look else (40, 190, 235)
        return (((215, 218, 218), np.array([(-0.05, 0.0), (0.05, 0.0), (0.05, size),
                                            (-0.05, size)])),
                ((30, 30, 30), np.array([(-0.05, size - 0.2), (0.05, size - 0.2),
                                         (0.05, size), (-0.05, size)])),
                (reflector, np.array([(-0.035, size - 0.17), (0.035, size - 0.17),
                                      (0.035, size - 0.05), (-0.035, size - 0.05)])))
    if kind == POLE:
        return (((120, 122, 125), np.array([(-0.11, 0.0), (0.11, 0.0), (0.07, size),
                                            (-0.07, size)])),
                ((70, 72, 75), np.array([(-0.25, size - 0.1), (0.25, size - 0.1),
                                         (0.25, size + 0.05), (-0.25, size + 0.05)])))
    rng = np.random.default_rng(look)
    green = np.array(TREE_GREENS[look % len(TREE_GREENS)], np.float64)
    trunk_h = size * float(rng.uniform(0.25, 0.4))
    trunk_w = max(0.15, 0.04 * size)
    figure = [((45, 60, 80), np.array([(-trunk_w, 0.0), (trunk_w, 0.0),
                                       (0.7 * trunk_w, trunk_h + 0.5),
                                       (-0.7 * trunk_w, trunk_h + 0.5)]))]
    centre = trunk_h + 0.5 * (size - trunk_h)
    ry, rx = 0.5 * (size - trunk_h), 0.5 * width
    ang = np.linspace(0.0, 2 * math.pi, 18, endpoint=False)
    for shrink, shift, tone in ((1.0, 0.0, 0.75), (0.75, 0.12, 1.0), (0.45, 0.25, 1.2)):
        wobble = 1.0 + 0.12 * rng.standard_normal(18)
        blob = np.stack([-shift * rx + shrink * rx * wobble * np.cos(ang),
                         centre + shift * ry + shrink * ry * wobble * np.sin(ang)], axis=1)
        figure.append((tuple(np.minimum(green * tone, 255.0)), blob))
    return tuple(figure)


def _fold(map_x: np.ndarray, cols: int, band: int) -> None:
    """Mirror columns beyond the texture back into its outer grass bands, in place."""
    low = map_x < 0.0
    if np.any(low):
        map_x[low] = pingpong(-map_x[low], np.float32(band))
    last = np.float32(cols - 1.0)
    high = map_x > last
    if np.any(high):
        map_x[high] = last - pingpong(map_x[high] - last, np.float32(band))


def _periodic_field(rng: np.random.Generator, height: int, width: int, cell_x: int,
                    cell_y: int) -> np.ndarray:
    """Smooth 2D noise, exactly periodic across ``width``, features about cell_x by cell_y."""
    nx = max(2, width // cell_x)
    ny = max(2, height // cell_y + 2)
    knots = rng.standard_normal((ny, nx)).astype(np.float32)
    tiled = np.hstack([knots, knots, knots])  # neighbours on both sides make the seam exact
    big = cv2.resize(tiled, (3 * nx * cell_x, ny * cell_y), interpolation=cv2.INTER_CUBIC)
    middle = big[:height, nx * cell_x:2 * nx * cell_x]
    columns = np.floor(np.arange(width) * (nx * cell_x / width)).astype(int)
    return middle[:, columns]


def _periodic_profile(rng: np.random.Generator, width: int, cell: int) -> np.ndarray:
    """Smooth 1D noise of period ``width`` with features about ``cell`` pixels wide."""
    return _periodic_field(rng, 1, width, cell, 1)[0]
