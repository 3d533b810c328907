"""Rendering of the forward camera image: sky, ground, road users, light and sensor effects.

Speed comes from doing per-pixel work only in OpenCV calls: the ground is one ``cv2.remap`` per
band of rows from the straightened road texture (the maps are affine/quadratic per row and
built with two numpy outer products), the sky is a slice of a precomputed panorama, road users
are a few dozen anti-aliased polygons each, and the sensor effects are a LUT and an addition.
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
from av_perception.sim.texture import Appearance, GroundTexture, MIP, RES_D, RES_S
from av_perception.sim.traffic import AgentView, HAIR, PERSON, SKIN, TRUCK
from av_perception.sim.vehicle import VehicleState

NEAR_M = 0.3  # near clipping plane of polygons (camera z)
MAX_HEADING_DEG = 75.0  # beyond this relative heading the per-row road lookup stops
SUN_DIRECTION = np.array([0.45, 0.35, 0.82]) / np.linalg.norm([0.45, 0.35, 0.82])
NOISE_FRAMES = 8

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
        self._setup_ground()
        self._setup_sky()
        self._setup_effects()
        self._models = models
        self.scenery = scenery
        self._colour_cache: dict[int, object] = {}

    # -- set-up ----------------------------------------------------------------------------
    def _setup_canvas(self) -> None:
        cam = self.camera
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
        supersample = np.clip(np.ceil(long_fp / 0.75), 1, 8).astype(int)
        # powers of two only: fewer bands, fewer remap calls
        supersample = (2 ** np.ceil(np.log2(supersample))).astype(int)
        supersample[0] = max(supersample[0], 8)
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
        self._u = np.arange(cam.width, dtype=np.float32)
        # haze and headlights per ground row
        vis = self.config.haze_visibility_m
        haze = 1.0 - np.exp(-fwd / vis)
        haze_rows = np.flatnonzero(haze > 0.01)
        self._haze_rows = (self.ground_start + haze_rows.min(),
                           self.ground_start + haze_rows.max() + 1) if len(haze_rows) else None
        if self._haze_rows is not None:
            r0, r1 = self._haze_rows
            a = haze[r0 - self.ground_start:r1 - self.ground_start].astype(np.float32)
            self._haze_w2 = np.repeat(a[:, None], cam.width, axis=1)
            self._haze_w1 = 1.0 - self._haze_w2
            self._haze_img = np.empty((r1 - r0, cam.width, 3), np.uint8)
            self._haze_img[:] = np.array(self.appearance.haze_colour, np.uint8)
        if self.dusk:
            lateral = (cam.cx - self._u[None, :].astype(np.float64)) * (t[:, None] / cam.fx)
            beam = np.minimum(headlight_gain(fwd[:, None], lateral), 0.95)
            # bluish ambient twilight plus warm headlight light
            ambient = self.appearance.ambient
            gain3 = ambient * np.array([1.3, 1.0, 0.75])[None, None, :] \
                + beam[:, :, None] * np.array([0.85, 0.95, 1.0])[None, None, :]
            self._ground_gain = np.clip(gain3 * 160.0, 0, 255).astype(np.uint8)

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

    def _setup_effects(self) -> None:
        app = self.appearance
        cfg = self.config
        x = np.arange(256, dtype=np.float64)
        y = (x - 128.0) * app.contrast + 128.0
        y *= app.brightness
        self._lut = np.clip(np.round(y), 0, 255).astype(np.uint8)
        self._noise = None
        if cfg.noise_sigma > 0:
            # one noise field; each frame uses a different window of it
            rng = np.random.default_rng([self.seed, 505])
            h, w = self.camera.height, self.camera.width
            field = rng.standard_normal((h + NOISE_FRAMES, w + 3 * NOISE_FRAMES, 3),
                                        dtype=np.float32) * cfg.noise_sigma
            self._noise = np.round(field).astype(np.int16)

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
        cv2.LUT(out, self._lut, dst=out)
        if self.config.motion_blur_px > 1:
            out = cv2.blur(out, (1, self.config.motion_blur_px))
        if self._noise is not None:
            k = frame_index % NOISE_FRAMES
            h, w = out.shape[:2]
            window = self._noise[k:k + h, 3 * k:3 * k + w]
            out = cv2.add(out, window, dtype=cv2.CV_8U)
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
        f32 = np.float32
        cx0 = ((tex.d_max - alpha * cos_p + q * alpha * alpha) * inv_d - 0.5).astype(f32)
        cx1 = ((-beta * cos_p + 2.0 * q * alpha * beta) * inv_d).astype(f32)
        cx2 = (q * beta * beta * inv_d).astype(f32)
        cy0 = np.mod((sc + alpha * sin_p) / RES_S - 0.5, tex.rows).astype(f32)
        cy1 = (beta * sin_p / RES_S).astype(f32)
        u = self._u[None, :]
        last = f32(tex.cols - 1)
        for band in self.bands:
            sl = band.sub_index
            map_x = cx1[sl, None] + u * cx2[sl, None]
            map_x *= u
            map_x += cx0[sl, None]
            map_y = u * cy1[sl, None]
            map_y += cy0[sl, None]
            if map_x.min() < 0.0 or map_x.max() > last:
                _fold(map_x, tex.cols, tex.grass_cols)
            source = tex.level0
            if band.level:
                source = tex.level1
                map_x += 0.5
                map_x *= 1.0 / MIP
                map_x -= 0.5
                map_y += 0.5
                map_y *= 1.0 / MIP
                map_y -= 0.5
            pixels = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_WRAP)
            if band.supersample > 1:
                pixels = cv2.resize(pixels, (cam.width, band.row_end - band.row_start),
                                    interpolation=cv2.INTER_AREA)
            frame[band.row_start:band.row_end] = pixels
        ground = frame[self.ground_start:]
        if self.dusk:
            cv2.multiply(ground, self._ground_gain, dst=ground, scale=1.0 / 160.0)
        if self._haze_rows is not None:
            r0, r1 = self._haze_rows
            frame[r0:r1] = cv2.blendLinear(frame[r0:r1], self._haze_img, self._haze_w1,
                                           self._haze_w2)

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

    def _draw_scenery(self, frame: np.ndarray, item: SceneryItem, x: float, y: float,
                      light: float, haze: float) -> None:
        cam = self.canvas
        base = cam.to_camera(np.array([[x, y, 0.0], [x, y, item.size]]))
        if base[0, 2] < NEAR_M + 0.5:
            return
        px = cam.camera_to_pixels(base)
        scale = (px[0, 1] - px[1, 1]) / item.size
        if scale * item.size < 3.0:
            return
        haze_c = np.array(self.appearance.haze_colour, np.float64) * haze
        for colour, poly in _scenery_figure(item.kind, round(item.size, 1),
                                            round(item.width, 1), item.look):
            lit = np.minimum(np.array(colour, np.float64) * (light * (1 - haze)) + haze_c,
                             255.0)
            pts = px[0] + poly * np.array([scale, -scale])
            cv2.fillPoly(frame, [np.round(pts * 16).astype(np.int32)], lit.tolist(),
                         cv2.LINE_AA, 4)

    def _shadow(self, frame: np.ndarray, outline: np.ndarray, strength: float) -> None:
        """Darken the projected ground polygon ``outline`` (vehicle frame, (N, 3))."""
        cam = self.canvas
        pts = clip_near(cam.to_camera(outline))
        if len(pts) < 3:
            return
        px = cam.camera_to_pixels(pts)
        lo = np.floor(px.min(axis=0)).astype(int) - 3
        hi = np.ceil(px.max(axis=0)).astype(int) + 4
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, [cam.width, cam.height])
        if np.any(hi - lo < 2):
            return
        mask = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.uint8)
        poly = np.round((px - lo) * 16).astype(np.int32)
        cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, 4)
        if hi[1] - lo[1] > 12:  # soft edges; small shadows are soft enough from anti-aliasing
            blur = max(1, int((hi[1] - lo[1]) * 0.08)) | 1
            mask = cv2.GaussianBlur(mask, (blur * 2 + 1, blur * 2 + 1), 0)
        roi = frame[lo[1]:hi[1], lo[0]:hi[0]]
        gain = 255 - cv2.multiply(mask, strength)
        cv2.multiply(roi, cv2.cvtColor(gain, cv2.COLOR_GRAY2BGR), dst=roi, scale=1.0 / 255.0)

    def _draw_vehicle(self, frame: np.ndarray, agent: AgentView, x: float, y: float,
                      yaw: float, light: float, haze: float, glows: list) -> None:
        cam = self.canvas
        model = cached_model(self._models, agent.track_id, agent.kind == TRUCK, agent.length,
                             agent.width, agent.height, agent.look)
        c, s = math.cos(yaw), math.sin(yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        offset = np.array([x, y, 0.0])
        cam_pts = cam.to_camera(model.vertices @ rot.T + offset)
        depth = cam_pts[:, 2]
        in_front = depth >= NEAR_M
        if not np.any(in_front):
            return
        safe = cam_pts.copy()
        safe[:, 2] = np.maximum(depth, NEAR_M)
        pixels = cam.camera_to_pixels(safe)
        front_px = pixels[in_front]
        extent = front_px.max(axis=0) - front_px.min(axis=0)
        if extent[1] < 1.0 or front_px[:, 0].max() < 0 or front_px[:, 0].min() >= cam.width:
            return
        # contact shadow, slightly larger than the footprint and cast away from the sun
        hl, hw = 0.5 * model.length + 0.15, 0.5 * model.width + 0.12
        foot = np.array([[-hl, -hw, 0], [hl, -hw, 0], [hl, hw, 0], [-hl, hw, 0]], float)
        foot[:, :2] -= (SUN_DIRECTION[:2] * 0.35) @ rot[:2, :2]
        self._shadow(frame, foot @ rot.T + offset, 0.45 if self.dusk else 0.62)
        pix16 = np.round(pixels * 16).astype(np.int32)
        eye = rot.T @ (cam.position - offset)  # camera position in the object frame
        facing = np.einsum('ij,ij->i', model.normals, eye[None, :] - model.first) > 0
        visible = facing | ~model.has_normal
        if extent[1] < 10.0:
            visible &= ~model.detail
        all_front = np.minimum.reduceat(in_front, model.starts)
        sun = rot.T @ SUN_DIRECTION  # sun in the object frame (fixed relative to the ego)
        shade = np.where(model.has_normal,
                         0.68 + 0.32 * np.maximum(model.normals @ sun, 0.0)
                         + 0.12 * model.normals[:, 2], 1.0)
        base, emissive = self._role_colours(agent, light, haze)
        colours = base[model.roles] * np.where(emissive[model.roles], 1.0, shade)[:, None]
        colours = np.minimum(colours, 255.0).tolist()
        order = sorted(model.components,
                       key=lambda comp: (comp[0], -float(np.linalg.norm(eye - comp[1]))))
        starts, ends = model.starts, model.ends
        for _, _, parts in order:
            for p in parts:
                if not visible[p]:
                    continue
                a, b = starts[p], ends[p]
                if all_front[p]:
                    poly = pix16[a:b]
                else:
                    clipped = clip_near(cam_pts[a:b])
                    if len(clipped) < 3:
                        continue
                    poly = np.round(cam.camera_to_pixels(clipped) * 16).astype(np.int32)
                cv2.fillPoly(frame, [poly], colours[p], cv2.LINE_AA, 4)
                if self.dusk and emissive[model.roles[p]]:
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
        lit = np.where(emissive[:, None], lamp, base * light)
        haze_c = np.array(self.appearance.haze_colour, np.float64)
        return np.clip(lit * (1.0 - haze) + haze_c * haze, 0, 255), emissive

    def _draw_person(self, frame: np.ndarray, agent: AgentView, x: float, y: float,
                     light: float, haze: float) -> None:
        polygons = person_polygons(self.canvas, x, y, agent.height, agent.phase)
        if not polygons:
            return
        ring = np.linspace(0, 2 * math.pi, 12, endpoint=False)
        disc = np.stack([x + 0.3 + 0.45 * np.cos(ring), y + 0.35 * np.sin(ring),
                         np.zeros(12)], axis=1)
        self._shadow(frame, disc, 0.45)
        colours = self._colour_cache.get(agent.track_id)
        if colours is None:
            rng = np.random.default_rng(agent.look)
            colours = {'shirt': agent.colour, 'trousers': agent.colour2,
                       'skin': SKIN[int(rng.integers(len(SKIN)))],
                       'hair': HAIR[int(rng.integers(len(HAIR)))],
                       'shoe': ROLE_COLOURS['shoe']}
            colours = {k: np.array(v, np.float64) for k, v in colours.items()}
            self._colour_cache[agent.track_id] = colours
        haze_c = np.array(self.appearance.haze_colour, np.float64) * haze
        for role, pts in polygons:
            colour = np.minimum(colours[role] * (light * (1 - haze)) + haze_c, 255.0)
            cv2.fillPoly(frame, [np.round(pts * 16).astype(np.int32)], colour.tolist(),
                         cv2.LINE_AA, 4)

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


@functools.lru_cache(maxsize=4096)
def _figure(height: float, step: int) -> tuple[tuple[str, np.ndarray], ...]:
    """Person figures are drawn at 16 gait phases; cached because people recur every frame."""
    return tuple(person_figure(height, step / 16.0))


@functools.lru_cache(maxsize=2048)
def _scenery_figure(kind: int, size: float, width: float, look: int
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
    period = np.float32(2.0 * band)
    inv = np.float32(1.0 / (2.0 * band))

    def pingpong(excess: np.ndarray) -> np.ndarray:
        # np.mod is very slow on float32; floor-based remainder is exact enough here
        t = excess - np.floor(excess * inv) * period
        return np.where(t < band, t, period - t)

    low = map_x < 0.0
    if np.any(low):
        map_x[low] = pingpong(-map_x[low])
    last = np.float32(cols - 1.0)
    high = map_x > last
    if np.any(high):
        map_x[high] = last - pingpong(map_x[high] - last)


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
