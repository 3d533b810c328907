"""Where the shared real test material (models, frames, bags) lives.

The material is referenced in place, never copied into the repository: one setting,
the environment variable ``AV_PERCEPTION_ASSETS``, defaulting to ``../shared/assets`` beside the
repository root.
"""

import os
from pathlib import Path

ASSETS_ENV = 'AV_PERCEPTION_ASSETS'
_REPO_ROOT = Path(__file__).resolve().parent.parent


def assets_root() -> Path:
    """Return the directory holding the shared assets (it may not exist)."""
    configured = os.environ.get(ASSETS_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return (_REPO_ROOT.parent / 'shared' / 'assets').resolve()


def asset_path(*parts: str) -> Path:
    """Return the path of one asset below :func:`assets_root` (it may not exist)."""
    return assets_root().joinpath(*parts)


def yolox_nano_model() -> Path:
    """Return the path of the real YOLOX-Nano ONNX model in the shared assets."""
    return asset_path('detectors', 'yolox_nano', 'yolox_nano.onnx')
