"""Named camera presets: a camera_info YAML plus the lane detector settings that camera needs.

A preset file is a ROS camera_info YAML (what ``av-perception calibrate`` writes) with one
extra top-level mapping, ``lane_detector:``, holding :class:`LaneDetectorConfig` overrides
(mounting, bird's-eye range, hood). ROS camera_info readers ignore the extra key, so a preset
also works as a ``camera_info_url``. A plain camera_info file is a preset without overrides;
a preset without ``camera_matrix`` leaves the intrinsics to the detector's default.

The shipped presets live in ``config/cameras/`` of the package (source tree or installed share
directory); ``--camera udacity_advanced`` finds ``config/cameras/udacity_advanced.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from av_perception.lanes.camera import CameraModel
from av_perception.lanes.errors import LaneError

PRESET_KEY = 'lane_detector'
_PACKAGE = 'av_perception'


@dataclass(frozen=True)
class CameraPreset:
    """A camera model (or None) and the detector parameter overrides that go with it."""

    name: str
    camera: CameraModel | None
    detector_overrides: dict[str, Any] = field(default_factory=dict)


def presets_dir() -> Path:
    """Return the directory of the shipped presets (source tree first, then the share dir)."""
    source = Path(__file__).resolve().parents[2] / 'config' / 'cameras'
    if source.is_dir():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(_PACKAGE)) / 'config' / 'cameras'
    except (ImportError, LookupError, ValueError):
        return source


def preset_names() -> list[str]:
    """Return the names of the shipped presets."""
    directory = presets_dir()
    return sorted(p.stem for p in directory.glob('*.yaml')) if directory.is_dir() else []


def load_camera_preset(name_or_path: str | Path) -> CameraPreset:
    """Load a preset by file path, or by name from :func:`presets_dir`."""
    path = Path(name_or_path)
    if not path.is_file():
        candidate = presets_dir() / f'{name_or_path}.yaml'
        if not candidate.is_file():
            raise LaneError(f'camera {name_or_path!r}: neither a file nor a preset name; '
                            f'presets: {preset_names()}')
        path = candidate
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise LaneError(f'cannot read camera file {path}: {err}') from err
    if not isinstance(document, dict):
        raise LaneError(f'{path}: a camera file must hold a mapping')
    overrides = document.get(PRESET_KEY) or {}
    if not isinstance(overrides, dict):
        raise LaneError(f'{path}: {PRESET_KEY!r} must be a mapping of detector parameters')
    camera = CameraModel.from_dict(document, str(path)) if 'camera_matrix' in document else None
    return CameraPreset(path.stem, camera, dict(overrides))
