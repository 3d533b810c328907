"""Low-polygon 3D models of cars and trucks, and the 2D figure of a pedestrian.

Object frame: origin on the ground at the centre of the footprint, x forward, y left, z up.
A model is a set of planar polygons (parts) grouped into convex components. The renderer culls
back faces by each part's outward normal and paints components far to near, parts in the
order listed, so details listed after their face lie on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np


ROLES = ('paint', 'paint_dark', 'glass', 'trim', 'trim_grey', 'under', 'tyre', 'rim', 'tail',
         'head', 'plate', 'cargo', 'cab', 'reflector')
ROLE_INDEX = {name: i for i, name in enumerate(ROLES)}


@dataclass
class Component:
    """Parts painted together; components are ordered by ``layer``, then far to near."""

    layer: int
    centre: np.ndarray
    parts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Model:
    """A model as flat arrays, ready for vectorised culling and projection.

    Part ``p`` is the polygon ``vertices[starts[p]:ends[p]]`` with outward ``normals[p]``
    (``has_normal[p]`` False: never culled), colour role ``ROLES[roles[p]]``; ``detail[p]``
    marks small parts a distant vehicle can skip, ``extent[p]`` is the part's largest size
    in metres (level of detail: parts that would be tiny on screen are skipped). A part
    faces a viewer at ``eye`` when ``normals[p] . eye > plane[p]`` or ``always_faces[p]``.
    ``components`` lists ``(layer, centre, part indices)`` in painting order within each
    component; the renderer's Python-valued copy of it is ``paint_order``, tuples
    ``(layer, centre x, y, z, [(part, start, end), ...])``. ``shade`` is the sun-independent
    part of each part's shading (1 for parts without a normal).
    """

    vertices: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    normals: np.ndarray
    has_normal: np.ndarray
    first: np.ndarray
    roles: np.ndarray
    detail: np.ndarray
    components: tuple[tuple[int, np.ndarray, np.ndarray], ...]
    length: float
    width: float
    outline: np.ndarray  # indices of the vertices that can lie on the silhouette
    extent: np.ndarray
    plane: np.ndarray
    always_faces: np.ndarray
    shade: np.ndarray
    paint_order: tuple[tuple, ...]


class _Builder:
    def __init__(self) -> None:
        self.polys: list[np.ndarray] = []
        self.normals: list[np.ndarray | None] = []
        self.roles: list[str] = []
        self.components: list[Component] = []

    def component(self, layer: int, centre: tuple[float, float, float]) -> Component:
        comp = Component(layer, np.array(centre, dtype=np.float64))
        self.components.append(comp)
        return comp

    def poly(self, comp: Component, points, role: str, hint=None) -> None:
        pts = np.asarray(points, dtype=np.float64)
        normal = None
        if hint is not None:
            normal = np.cross(pts[1] - pts[0], pts[2] - pts[0])
            norm = np.linalg.norm(normal)
            if norm < 1e-12:
                normal = np.asarray(hint, dtype=np.float64)
            else:
                normal = normal / norm
                if np.dot(normal, hint) < 0:
                    normal = -normal
        comp.parts.append(len(self.polys))
        self.polys.append(pts)
        self.normals.append(normal)
        self.roles.append(role)

    def build(self, length: float, width: float) -> Model:
        sizes = np.array([len(p) for p in self.polys])
        ends = np.cumsum(sizes)
        starts = ends - sizes
        has_normal = np.array([n is not None for n in self.normals])
        normals = np.array([n if n is not None else np.zeros(3) for n in self.normals])
        extent = np.array([float(np.max(np.ptp(p, axis=0))) for p in self.polys])
        vertices = np.vstack(self.polys)
        shell = np.concatenate([np.arange(a, b) for a, b, r in zip(starts, ends, self.roles)
                                if r in ('paint', 'paint_dark', 'cargo', 'cab', 'tyre')])
        _, first = np.unique(np.round(vertices[shell], 4), axis=0, return_index=True)
        first_vertex = np.array([p[0] for p in self.polys])
        return Model(
            vertices=vertices, starts=starts, ends=ends, normals=normals,
            has_normal=has_normal, first=first_vertex,
            roles=np.array([ROLE_INDEX[r] for r in self.roles]), detail=extent < 0.36,
            components=tuple((c.layer, c.centre, np.array(c.parts, dtype=np.int64))
                             for c in self.components),
            length=float(length), width=float(width), outline=np.sort(shell[first]),
            extent=extent, plane=np.einsum('ij,ij->i', normals, first_vertex),
            always_faces=~has_normal,
            shade=np.where(has_normal, 0.68 + 0.12 * normals[:, 2], 1.0),
            paint_order=tuple((c.layer, *c.centre.tolist(),
                               [(p, int(starts[p]), int(ends[p])) for p in c.parts])
                              for c in self.components))


def _quad_x(x: float, y0: float, y1: float, z0: float, z1: float):
    """Rectangle in the plane of constant x."""
    return [(x, y0, z0), (x, y1, z0), (x, y1, z1), (x, y0, z1)]


def _quad_y(y: float, x0: float, x1: float, z0: float, z1: float):
    """Rectangle in the plane of constant y."""
    return [(x0, y, z0), (x1, y, z0), (x1, y, z1), (x0, y, z1)]


def _disc_y(y: float, x: float, z: float, radius: float, n: int = 14):
    ang = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return [(x + radius * math.cos(a), y, z + radius * math.sin(a)) for a in ang]


def _shrink(points, fx: float, fz: float):
    """Shrink a polygon towards its centroid (horizontally by fx, vertically by fz)."""
    pts = np.asarray(points, dtype=np.float64)
    c = pts.mean(axis=0)
    out = c + (pts - c) * np.array([fx, fx, fz])
    return out


def _prism(b: _Builder, comp: Component, outline, z0: float, z1: float, role: str,
           top_role: str | None = None) -> None:
    """Vertical faces of a prism over a clockwise (seen from above) outline, then its top."""
    n = len(outline)
    for i in range(n):
        (xa, ya), (xb, yb) = outline[i], outline[(i + 1) % n]
        hint = (-(yb - ya), xb - xa, 0.0)
        b.poly(comp, [(xa, ya, z0), (xb, yb, z0), (xb, yb, z1), (xa, ya, z1)], role, hint)
    b.poly(comp, [(x, y, z1) for x, y in outline], top_role or role, (0.0, 0.0, 1.0))


def build_car(length: float, width: float, height: float, look: int) -> Model:
    """Sedan, hatchback or SUV (chosen by ``look``) with lights, windows and wheels."""
    variant = look % 3
    trim_bumper = (look // 3) % 2 == 0
    hl, hw = 0.5 * length, 0.5 * width
    if variant == 2:
        height *= 1.12
    zb0 = (0.30, 0.30, 0.40)[variant]
    zb1 = (0.50, 0.53, 0.58)[variant] * height + 0.08
    r0, r1 = ((0.85, 1.30), (0.20, 0.50), (0.10, 0.28))[variant]
    f0, f1 = ((1.25, 1.95), (1.10, 1.80), (1.00, 1.55))[variant]
    c = 0.16  # chamfer of the body corners seen from above
    b = _Builder()
    # under-body, tyres seen from behind/front, side sills: painted first
    under = b.component(0, (0.0, 0.0, 0.1))
    for sign in (-1.0, 1.0):  # rear (-1) and front (+1)
        x_under = sign * (hl - 0.35)
        x_tyre = sign * (hl - 0.85)
        hint = (sign, 0.0, 0.0)
        b.poly(under, _quad_x(x_tyre, -hw + 0.03, -hw + 0.3, 0.0, zb0 + 0.05), 'tyre', hint)
        b.poly(under, _quad_x(x_tyre, hw - 0.3, hw - 0.03, 0.0, zb0 + 0.05), 'tyre', hint)
        b.poly(under, _quad_x(x_under, -hw + 0.08, hw - 0.08, 0.03, zb0 + 0.02), 'under',
               hint)
    for side in (-1.0, 1.0):
        b.poly(under, _quad_y(side * (hw - 0.08), -hl + 0.3, hl - 0.3, 0.03, zb0 + 0.02),
               'under', (0.0, side, 0.0))
    body = b.component(1, (0.0, 0.0, 0.5))
    outline = [(-hl, -hw + c), (-hl, hw - c), (-hl + c, hw), (hl - c, hw), (hl, hw - c),
               (hl, -hw + c), (hl - c, -hw), (-hl + c, -hw)]
    _prism(b, body, outline, zb0, zb1, 'paint')
    # rear details on the rear face and the rear corner faces
    for sign, lamp in ((-1.0, 'tail'), (1.0, 'head')):
        x = sign * hl
        hint = (sign, 0.0, 0.0)
        y_in = hw - c - (0.34 if lamp == 'tail' else 0.38)
        z_lamp = (zb1 - 0.2, zb1 - 0.04) if lamp == 'tail' else (zb1 - 0.19, zb1 - 0.07)
        b.poly(body, _quad_x(x, -hw + c + 0.001, hw - c - 0.001, zb0, zb0 + 0.17),
               'trim' if trim_bumper else 'paint_dark', hint)
        for side in (-1.0, 1.0):
            b.poly(body, _quad_x(x, side * y_in, side * (hw - c - 0.005), *z_lamp), lamp,
                   hint)
            corner = [(x, side * (hw - c), z_lamp[0]),
                      (x - sign * c * 0.8, side * (hw - c * 0.2), z_lamp[0]),
                      (x - sign * c * 0.8, side * (hw - c * 0.2), z_lamp[1]),
                      (x, side * (hw - c), z_lamp[1])]
            b.poly(body, corner, lamp, (sign, side, 0.0))
        if lamp == 'head':
            b.poly(body, _quad_x(x, -0.42, 0.42, zb0 + 0.2, zb1 - 0.1), 'trim', hint)
        b.poly(body, _quad_x(x, -0.25, 0.25, zb0 + 0.19, zb0 + 0.31), 'plate', hint)
        if lamp == 'tail' and variant == 0:  # trunk lid gap
            b.poly(body, _quad_x(x, -hw + c + 0.3, hw - c - 0.3, zb1 - 0.015, zb1 - 0.003),
                   'trim', hint)
    # wheels and arches on both sides
    for side in (-1.0, 1.0):
        y = side * (hw + 0.003)
        hint = (0.0, side, 0.0)
        b.poly(body, _quad_y(y, -hl + c, hl - c, zb0, zb0 + 0.1), 'paint_dark', hint)
        for x in (-hl + 0.85, hl - 0.9):
            b.poly(body, _disc_y(y, x, 0.32, 0.39), 'under', hint)
            b.poly(body, _disc_y(y, x, 0.32, 0.32), 'tyre', hint)
            b.poly(body, _disc_y(y, x, 0.32, 0.2, 10), 'rim', hint)
    # cabin: a trapezoidal prism with glass on all four sides
    cabin = b.component(1, (0.0, 0.0, 1.2))
    bw, tw = hw - 0.07, hw - 0.22
    base = [(-hl + r0, -bw), (-hl + r0, bw), (hl - f0, bw), (hl - f0, -bw)]
    top = [(-hl + r1, -tw), (-hl + r1, tw), (hl - f1, tw), (hl - f1, -tw)]
    for side in (-1.0, 1.0):  # mirrors stick out beside the cabin front
        xm = hl - f0 - 0.1
        mirror = _quad_x(xm, side * (hw - 0.02), side * (hw + 0.15), zb1 + 0.03, zb1 + 0.17)
        b.poly(cabin, mirror, 'paint_dark', (-1.0, 0.0, 0.0))
        b.poly(cabin, _quad_x(xm + 0.06, side * (hw - 0.02), side * (hw + 0.15), zb1 + 0.03,
                              zb1 + 0.17), 'paint_dark', (1.0, 0.0, 0.0))
    faces = []
    for i in range(4):
        (xa, ya), (xb, yb) = base[i], base[(i + 1) % 4]
        (xc, yc), (xd, yd) = top[(i + 1) % 4], top[i]
        quad = [(xa, ya, zb1), (xb, yb, zb1), (xc, yc, height), (xd, yd, height)]
        hint = (-(yb - ya), xb - xa, 0.3)
        faces.append((quad, hint))
    for quad, hint in faces:
        b.poly(cabin, quad, 'paint', hint)
        glass = _shrink(quad, 0.86, 0.78)
        glass[:, 2] -= 0.015
        b.poly(cabin, glass, 'glass', hint)
        if abs(hint[1]) > abs(hint[0]):  # side window: add the B pillar
            mid = 0.5 * (glass[0] + glass[1])
            top_mid = 0.5 * (glass[2] + glass[3])
            pillar = [mid + (-0.05, 0, 0), mid + (0.05, 0, 0), top_mid + (0.05, 0, 0),
                      top_mid + (-0.05, 0, 0)]
            b.poly(cabin, pillar, 'paint_dark', hint)
    b.poly(cabin, [(x, y, height) for x, y in top], 'paint', (0.0, 0.0, 1.0))
    return b.build(length, width)


def build_truck(length: float, width: float, height: float, look: int) -> Model:
    """Box truck: cab in front, cargo box behind, dual rear wheels, lamp bar and bumper."""
    hl, hw = 0.5 * length, 0.5 * width
    box_front = hl - 2.7
    z_box = 1.15
    b = _Builder()
    chassis = b.component(0, (0.0, 0.0, 0.5))
    for side in (-1.0, 1.0):  # side skirts between the axles
        b.poly(chassis, _quad_y(side * (hw - 0.12), -hl + 3.2, box_front - 0.2, 0.55, z_box),
               'trim', (0.0, side, 0.0))
    for sign, x_axle in ((1.0, hl - 1.3), (-1.0, -hl + 2.45), (-1.0, -hl + 1.2)):
        # axles and dual tyres seen from the front or back; the road shows between them
        hint = (sign, 0.0, 0.0)
        b.poly(chassis, _quad_x(x_axle, -hw + 0.7, hw - 0.7, 0.42, 0.58), 'under', hint)
        for side in (-1.0, 1.0):
            b.poly(chassis, _quad_x(x_axle, side * (hw - 0.72), side * (hw - 0.03), 0.0,
                                    1.0), 'tyre', hint)
        b.poly(chassis, _quad_x(x_axle, -0.15, 0.15, 0.3, z_box), 'under', hint)
    hint = (-1.0, 0.0, 0.0)
    for side in (-1.0, 1.0):  # mud flaps behind the rear wheels
        b.poly(chassis, _quad_x(-hl + 0.7, side * (hw - 0.7), side * (hw - 0.08), 0.22,
                                0.85), 'trim', hint)
    # under-ride guard with lamps and plate, hanging from the box on two posts
    for y in (-0.75, 0.65):
        b.poly(chassis, _quad_x(-hl + 0.06, y, y + 0.1, 0.6, z_box), 'trim', hint)
    b.poly(chassis, _quad_x(-hl + 0.05, -hw + 0.12, hw - 0.12, 0.45, 0.62), 'trim_grey',
           hint)
    for k in range(10):  # red/white reflective tape along the guard
        y0 = -hw + 0.12 + k * (width - 0.24) / 10
        b.poly(chassis, _quad_x(-hl + 0.04, y0, y0 + (width - 0.24) / 10, 0.5, 0.57),
               'reflector' if k % 2 else 'plate', hint)
    for side in (-1.0, 1.0):
        b.poly(chassis, _quad_x(-hl + 0.03, side * (hw - 0.4), side * (hw - 0.1), 0.64,
                                0.84), 'tail', hint)
    b.poly(chassis, _quad_x(-hl + 0.03, -0.26, 0.26, 0.66, 0.8), 'plate', hint)
    for side in (-1.0, 1.0):
        y = side * (hw + 0.003)
        for x in (-hl + 1.2, -hl + 2.45):
            b.poly(chassis, _disc_y(y, x, 0.5, 0.5), 'tyre', (0.0, side, 0.0))
            b.poly(chassis, _disc_y(y, x, 0.5, 0.3, 10), 'rim', (0.0, side, 0.0))
    box = b.component(1, (0.5 * (box_front - hl), 0.0, 2.5))
    outline = [(-hl, -hw), (-hl, hw), (box_front, hw), (box_front, -hw)]
    _prism(b, box, outline, z_box, height, 'cargo')
    x = -hl - 0.003
    # rear doors: frame, centre seam, two lock rods, hinges, bottom sill with reflective tape
    for y0, y1 in ((-hw, -hw + 0.06), (hw - 0.06, hw)):
        b.poly(box, _quad_x(x, y0, y1, z_box, height), 'trim_grey', hint)
    b.poly(box, _quad_x(x, -hw, hw, height - 0.12, height), 'trim_grey', hint)
    b.poly(box, _quad_x(x, -0.012, 0.012, z_box + 0.12, height - 0.12), 'trim', hint)
    for y in (-0.3, 0.3):
        b.poly(box, _quad_x(x, y - 0.018, y + 0.018, z_box + 0.25, height - 0.3),
               'trim_grey', hint)
    for y in (-hw + 0.06, hw - 0.16):
        for z in (z_box + 0.5, 0.5 * (z_box + height), height - 0.5):
            b.poly(box, _quad_x(x, y, y + 0.1, z, z + 0.08), 'trim', hint)
    b.poly(box, _quad_x(x, -hw, hw, z_box, z_box + 0.12), 'trim', hint)
    for k in range(10):
        y0 = -hw + k * width / 10
        b.poly(box, _quad_x(x - 0.001, y0, y0 + width / 10, z_box + 0.03, z_box + 0.09),
               'reflector' if k % 2 else 'plate', hint)
    for y in (-hw + 0.12, -0.05, hw - 0.22):
        b.poly(box, _quad_x(x, y, y + 0.1, height - 0.1, height - 0.04), 'tail', hint)
    cab = b.component(1, (hl - 1.25, 0.0, 1.8))
    cab_top = min(height - 0.5, 3.0)
    outline = [(box_front + 0.2, -hw + 0.05), (box_front + 0.2, hw - 0.05),
               (hl - 0.1, hw - 0.05), (hl, hw - 0.15), (hl, -hw + 0.15), (hl - 0.1, -hw + 0.05)]
    _prism(b, cab, outline, 0.6, cab_top, 'cab')
    hint = (1.0, 0.0, 0.0)
    b.poly(cab, _quad_x(hl + 0.003, -hw + 0.25, hw - 0.25, 1.75, cab_top - 0.2), 'glass',
           hint)
    b.poly(cab, _quad_x(hl + 0.003, -0.55, 0.55, 0.8, 1.5), 'trim', hint)
    for side in (-1.0, 1.0):
        b.poly(cab, _quad_x(hl + 0.003, side * (hw - 0.5), side * (hw - 0.2), 0.9, 1.1),
               'head', hint)
        y = side * (hw - 0.045)
        b.poly(cab, _quad_y(y, hl - 1.3, hl - 0.3, 1.75, cab_top - 0.25), 'glass',
               (0.0, side, 0.0))
        b.poly(cab, _disc_y(side * (hw + 0.003), hl - 1.3, 0.5, 0.58), 'under',
               (0.0, side, 0.0))
        b.poly(cab, _disc_y(side * (hw + 0.006), hl - 1.3, 0.5, 0.5), 'tyre',
               (0.0, side, 0.0))
        b.poly(cab, _disc_y(side * (hw + 0.009), hl - 1.3, 0.5, 0.3, 10), 'rim',
               (0.0, side, 0.0))
    return b.build(length, width)


def cached_model(cache: dict[int, Model], track_id: int, truck: bool, length: float,
                 width: float, height: float, look: int) -> Model:
    """Return the model of road user ``track_id`` from ``cache``, building it once."""
    model = cache.get(track_id)
    if model is None:
        build = build_truck if truck else build_car
        model = build(length, width, height, look)
        cache[track_id] = model
    return model


def person_figure(height: float, phase: float) -> list[tuple[str, np.ndarray]]:
    """2D figure of a person seen from the front or back, in metres.

    Returns ``(role, polygon)`` pairs in painting order; polygon columns are ``(a, z)`` with
    ``a`` to the viewer's right and ``z`` up from the feet. ``phase`` (cycles) animates the gait.
    """
    k = height / 1.75
    swing = math.sin(2 * math.pi * phase)
    lift = 0.05 * k * max(0.0, swing)
    lift2 = 0.05 * k * max(0.0, -swing)
    hip, shoulder = 0.93 * k, 1.45 * k
    parts = []
    for side, up in ((-1.0, lift), (1.0, lift2)):
        x_top = side * 0.085 * k
        foot_x = side * 0.1 * k
        leg = [(x_top - 0.075 * k, hip), (x_top + 0.075 * k, hip),
               (foot_x + 0.05 * k, 0.06 * k + up), (foot_x - 0.05 * k, 0.06 * k + up)]
        parts.append(('trousers', np.array(leg)))
        shoe = [(side * 0.1 * k - 0.06 * k, up), (side * 0.1 * k + 0.06 * k, up),
                (side * 0.1 * k + 0.055 * k, 0.07 * k + up),
                (side * 0.1 * k - 0.055 * k, 0.07 * k + up)]
        parts.append(('shoe', np.array(shoe)))
    for side, arm_swing in ((-1.0, swing), (1.0, -swing)):
        hand_z = 0.78 * k + 0.05 * k * arm_swing
        arm = [(side * 0.19 * k, shoulder - 0.02 * k), (side * 0.25 * k, shoulder - 0.06 * k),
               (side * 0.255 * k, hand_z), (side * 0.195 * k, hand_z)]
        parts.append(('shirt', np.array(arm)))
        hand = [(side * 0.2 * k, hand_z), (side * 0.25 * k, hand_z),
                (side * 0.245 * k, hand_z - 0.08 * k), (side * 0.205 * k, hand_z - 0.08 * k)]
        parts.append(('skin', np.array(hand)))
    torso = [(-0.17 * k, hip - 0.03 * k), (0.17 * k, hip - 0.03 * k), (0.2 * k, shoulder),
             (0.15 * k, shoulder + 0.04 * k), (-0.15 * k, shoulder + 0.04 * k),
             (-0.2 * k, shoulder)]
    parts.append(('shirt', np.array(torso)))
    parts.append(('skin', np.array([(-0.045 * k, shoulder), (0.045 * k, shoulder),
                                    (0.045 * k, shoulder + 0.09 * k),
                                    (-0.045 * k, shoulder + 0.09 * k)])))
    ang = np.linspace(0.0, 2 * math.pi, 14, endpoint=False)
    head_c = 1.62 * k
    head = np.stack([0.085 * k * np.cos(ang), head_c + 0.11 * k * np.sin(ang)], axis=1)
    parts.append(('skin', head))
    hair = head[np.sin(ang) >= -0.05]
    hair = np.vstack([hair, [(0.085 * k, head_c + 0.02 * k)]])
    parts.append(('hair', np.stack([hair[:, 0] * 1.04, hair[:, 1] + 0.012 * k], axis=1)))
    return parts
