"""Binary lane-marking mask of a metric bird's-eye view.

A painted line is a thin stripe brighter (white) or yellower (yellow) than the road on *both*
sides. In the bird's-eye view its width is known in pixels, so a dark-light-dark filter -- the
mean of a marking-wide centre box minus the brighter of two boxes beside it -- answers "is there
a line here" with a local reference: the contrast test holds in a tree shadow, on light
concrete and on dark asphalt alike, while shadow edges and bright patches wider than a marking
(concrete slabs, cars, sky-lit road) fail it because one side is as bright as the centre. It is
the horizontal gradient test done in pairs: a rising edge followed a marking width later by a
falling one.

Colour enters through one YCrCb conversion: luma Y for white (any bright) paint, and Cb, the
blue-yellow opponent axis (the linear counterpart of LAB b, at a quarter of LAB's cost), for
yellow paint, which on light concrete is barely brighter than the road but clearly yellower.
``yellowness`` below is ``255 - Cb`` (128 neutral, higher is yellower).
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import math

import cv2
import numpy as np

_VERTICAL3 = np.ones((3, 1), np.uint8)
_SQUARE3 = np.ones((3, 3), np.uint8)


@functools.lru_cache(maxsize=8)
def _horizontal(length: int) -> np.ndarray:
    """Return a 1 x length structuring element (read-only, built once)."""
    kernel = np.ones((1, length), np.uint8)
    kernel.flags.writeable = False
    return kernel


@dataclass(frozen=True)
class MaskParameters:
    """Pixel-level thresholds of :func:`lane_marking_mask` (derived from the detector config)."""

    marking_width_px: int
    white_contrast_min: float
    white_contrast_relative: float
    yellow_contrast_min: float
    yellowness_min: float
    white_chroma_max: float
    seam_contrast_min: float = 0.0  # 0: dark seams are not evidence


def _dark_seams(ycc: np.ndarray, contrast_min: float, chroma_max: float) -> np.ndarray:
    """Return a 0/255 mask of one-pixel-wide grey lines darker than the road on both sides.

    Concrete highways put lane lines on the joints between slabs: a dark, sealed seam that
    stays visible where the paint is worn or the dashes are far apart.
    """
    luma = ycc[:, :, 0]
    side = cv2.blur(luma, (4, 1)).astype(np.int16)
    darker_side = np.full_like(side, -1000)
    offset = 3
    np.minimum(side[:, :-2 * offset], side[:, 2 * offset:], out=darker_side[:, offset:-offset])
    seam = (darker_side - luma.astype(np.int16)) > contrast_min
    seam &= np.abs(ycc[:, :, 1].astype(np.int16) - 128) <= chroma_max
    return seam.astype(np.uint8) * np.uint8(255)


def lane_marking_mask(bev_bgr: np.ndarray, valid: np.ndarray, params: MaskParameters
                      ) -> np.ndarray:
    """Return a uint8 mask (1 = marking) of a bird's-eye BGR view.

    ``valid`` (bool, same rows/cols) marks view pixels that see the road; others are never set.
    """
    centre_px = max(1, params.marking_width_px)
    side_px = max(2, 2 * centre_px)
    # A gap of half a marking between centre and side boxes tolerates the blur that widens far
    # markings in the view.
    offset = (centre_px + side_px) // 2 + max(1, (centre_px + 1) // 2)
    ycc = cv2.cvtColor(bev_bgr, cv2.COLOR_BGR2YCrCb)
    # All arithmetic below is saturating uint8 OpenCV, several times cheaper than numpy int16
    # at this size.
    # Blur only the planes used; centre planes are then column views (no copies).
    plane_y, plane_cr, plane_cb = cv2.split(ycc)
    luma, cr, cb = (cv2.blur(plane, (centre_px, 1))[:, offset:-offset]
                    for plane in (plane_y, plane_cr, plane_cb))
    side_luma = cv2.blur(plane_y, (side_px, 1))
    side_cb = cv2.blur(plane_cb, (side_px, 1))
    brighter_side = cv2.max(side_luma[:, :-2 * offset], side_luma[:, 2 * offset:])
    threshold = cv2.max(cv2.convertScaleAbs(brighter_side, alpha=params.white_contrast_relative),
                        float(params.white_contrast_min))
    # White: brighter than both sides by the threshold, and grey (tail and brake lights are
    # red): |Cr - 128| <= max as one range test, in whole numbers as uint8 compares them.
    marking = cv2.compare(cv2.subtract(luma, brighter_side), threshold, cv2.CMP_GT)
    marking &= cv2.inRange(cr, math.ceil(128.0 - params.white_chroma_max),
                           math.floor(128.0 + params.white_chroma_max))
    # Yellow is low Cb: the centre must be below both sides (more yellow than either). Yellow
    # paint has (Cr - 128) / (128 - Cb) ~ 0.65; orange and red lights have > 1.
    # (cv2.threshold, x > floor(t) for uint8, is the cheaper cv2.compare against a scalar.)
    less_yellow_side = cv2.max(side_cb[:, :-2 * offset], side_cb[:, 2 * offset:])
    yellow = cv2.threshold(cv2.subtract(less_yellow_side, cb), params.yellow_contrast_min, 255,
                           cv2.THRESH_BINARY)[1]
    yellow &= cv2.threshold(cb, 255.0 - params.yellowness_min, 255, cv2.THRESH_BINARY_INV)[1]
    # 10 (Cr - 128) <= 9 (128 - Cb)  <=>  (10 Cr + 9 Cb) / 19 <= 128, in uint8 arithmetic
    hue = cv2.addWeighted(cr, 10.0 / 19.0, cb, 9.0 / 19.0, 0.0)
    yellow &= cv2.threshold(hue, 128.0, 255, cv2.THRESH_BINARY_INV)[1]
    marking |= yellow
    mask = np.zeros(valid.shape, np.uint8)
    mask[:, offset:-offset] = marking
    if params.seam_contrast_min > 0:
        mask |= _dark_seams(ycc, params.seam_contrast_min, params.white_chroma_max)
    # A bool array viewed as uint8 is 0/1: the mask is 0/1 from here on (erosion, dilation
    # and the masking below keep it so).
    mask &= valid.view(np.uint8)
    # Markings run along the view's columns: specks shorter than three rows are texture, and
    # anything wider than three markings (lights, car parts, glare) is not a line.
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _VERTICAL3)
    wide = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _horizontal(3 * centre_px + 1))
    if cv2.countNonZero(wide):
        mask &= cv2.bitwise_not(cv2.dilate(wide, _SQUARE3))
    return mask
