"""Debug drawings: the lane estimate on the camera image, and the bird's-eye view."""

from __future__ import annotations

import math

import cv2
import numpy as np

from av_perception.lanes.detector import DebugFrame
from av_perception.lanes.estimate import LaneEstimate
from av_perception.lanes.fitting import evaluate_polynomial

_LEFT_BGR = (60, 60, 255)
_RIGHT_BGR = (255, 120, 40)
_CENTRE_BGR = (0, 220, 255)
_LANE_FILL_BGR = (60, 200, 60)


def _polyline(image: np.ndarray, points: np.ndarray, colour, thickness: int,
              dashed: bool = False) -> None:
    pts = np.round(points).astype(np.int32)
    if len(pts) < 2:
        return
    if not dashed:
        cv2.polylines(image, [pts.reshape(-1, 1, 2)], False, colour, thickness, cv2.LINE_AA)
        return
    for i in range(0, len(pts) - 1, 2):
        cv2.line(image, tuple(int(v) for v in pts[i]), tuple(int(v) for v in pts[i + 1]), colour,
                 thickness, cv2.LINE_AA)


def render_overlay(image: np.ndarray, estimate: LaneEstimate,
                   debug: DebugFrame | None = None) -> np.ndarray:
    """Return a copy of ``image`` with the lane drawn on it (and the bird's-eye view inset).

    The ego lane is filled green when both boundaries are valid; boundaries are solid when
    seen, dashed when inferred, thin when below the validity threshold. The text gives offset,
    heading, curvature radius and the per-boundary confidences.
    """
    canvas = image.copy()
    height, width = canvas.shape[:2]
    scale = max(1.0, width / 640.0)
    thickness = max(2, int(round(3 * scale)))
    left, right = estimate.left, estimate.right
    if left.valid and right.valid and len(left.points_px) > 1 and len(right.points_px) > 1:
        polygon = np.vstack([left.points_px, right.points_px[::-1]])
        fill = canvas.copy()
        cv2.fillPoly(fill, [np.round(polygon).astype(np.int32)], _LANE_FILL_BGR, cv2.LINE_AA)
        cv2.addWeighted(fill, 0.3, canvas, 0.7, 0.0, dst=canvas)
    for curve, colour in ((left, _LEFT_BGR), (right, _RIGHT_BGR)):
        if curve.present:
            _polyline(canvas, curve.points_px, colour,
                      thickness if curve.valid else max(1, thickness // 2), dashed=curve.inferred)
    if estimate.center.valid:
        _polyline(canvas, estimate.center.points_px, _CENTRE_BGR, max(1, thickness // 2),
                  dashed=True)
    _draw_text(canvas, estimate, scale)
    if debug is not None:
        inset = render_birdseye(debug, estimate)
        inset_h = int(height * 0.45)
        inset_w = max(1, int(inset.shape[1] * inset_h / inset.shape[0]))
        inset = cv2.resize(inset, (inset_w, inset_h), interpolation=cv2.INTER_NEAREST)
        if inset_w < width:
            canvas[:inset_h, width - inset_w:] = inset
            cv2.rectangle(canvas, (width - inset_w, 0), (width - 1, inset_h - 1), (255, 255, 255),
                          1)
    return canvas


def _draw_text(canvas: np.ndarray, estimate: LaneEstimate, scale: float) -> None:
    if estimate.valid:
        radius = (abs(1.0 / estimate.curvature_per_m)
                  if abs(estimate.curvature_per_m) > 1e-5 else math.inf)
        lines = [f'offset {estimate.lateral_offset_m:+.2f} m  '
                 f'heading {math.degrees(estimate.heading_error_rad):+.1f} deg',
                 f'radius {radius:.0f} m  width {estimate.lane_width_m:.2f} m']
    else:
        lines = ['no lane']
    marks = {True: ' (inf)', False: ''}
    lines.append(f'conf L {estimate.left.confidence:.2f}{marks[estimate.left.inferred]}  '
                 f'R {estimate.right.confidence:.2f}{marks[estimate.right.inferred]}')
    font_scale = 0.5 * scale
    weight = max(1, int(round(scale)))
    y = int(22 * scale)
    for text in lines:
        # A dark outline two pixels wider than the letters keeps them readable on sky and road.
        for colour, thickness in (((0, 0, 0), weight + 2), ((255, 255, 255), weight)):
            cv2.putText(canvas, text, (int(10 * scale), y), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                        colour, thickness, cv2.LINE_AA)
        y += int(22 * scale)


def render_birdseye(debug: DebugFrame, estimate: LaneEstimate | None = None) -> np.ndarray:
    """Return the bird's-eye view with marking pixels (magenta) and the fitted boundaries."""
    view = debug.bev.copy()
    view[~debug.birdseye.valid] //= 3
    view[debug.mask > 0] = (255, 0, 255)
    if estimate is None:
        return view
    birdseye = debug.birdseye
    xs = np.linspace(birdseye.near_m, birdseye.far_m, 40)
    for curve, colour in ((estimate.left, _LEFT_BGR), (estimate.right, _RIGHT_BGR),
                          (estimate.center, _CENTRE_BGR)):
        if not curve.present:
            continue
        vx, vy = debug.to_view(xs, curve.lateral_at(xs))
        pts = birdseye.ground_to_view(np.column_stack([vx, vy]))
        _polyline(view, pts, colour, 1, dashed=curve.inferred)
    for side, colour in (('left', (0, 255, 0)), ('right', (0, 255, 255))):
        fit = debug.fits.get(side)
        if fit is not None:
            fx = np.linspace(fit.x_min_m, fit.x_max_m, 20)
            vx, vy = debug.to_view(fx, evaluate_polynomial(fit.coefficients, fx))
            pts = birdseye.ground_to_view(np.column_stack([vx, vy]))
            _polyline(view, pts, colour, 1)
    return view
