"""config/*.param.yaml and the config dataclasses never drift apart."""

from pathlib import Path

import pytest
import yaml

from av_perception.node_configs import config_class, NODE_CONFIGS
from av_perception.params import field_specs, from_mapping, load_param_yaml

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'config'
PARAM_FILES = sorted(CONFIG_DIR.glob('*.param.yaml'))


def node_of(path: Path) -> str:
    """Return the node name of ``<node>.param.yaml``."""
    return path.name[:-len('.param.yaml')]


def is_overlay(path: Path) -> bool:
    """Say whether ``path`` has a section per node (jetson.param.yaml) to apply over others."""
    return '/**' not in (yaml.safe_load(path.read_text()) or {})


NODE_FILES = [p for p in PARAM_FILES if not is_overlay(p)]
OVERLAY_FILES = [p for p in PARAM_FILES if is_overlay(p)]


def test_every_parameter_file_belongs_to_a_registered_node():
    assert PARAM_FILES, 'no parameter files found'
    unregistered = [p.name for p in NODE_FILES if node_of(p) not in NODE_CONFIGS
                    and node_of(p).split('.')[0] not in NODE_CONFIGS]
    assert not unregistered
    for path in OVERLAY_FILES:
        sections = set(yaml.safe_load(path.read_text()))
        assert sections and sections <= set(NODE_CONFIGS), f'{path.name}: {sorted(sections)}'


@pytest.mark.parametrize('path', OVERLAY_FILES, ids=[p.name for p in OVERLAY_FILES])
def test_overlay_sections_declare_known_parameters_and_validate_over_the_node_files(path):
    for node in yaml.safe_load(path.read_text()):
        cls = config_class(node)
        overlay = load_param_yaml(path, node)
        undeclared = set(overlay) - {f.name for f in field_specs(cls)}
        assert not undeclared, f'{path.name}: {node} does not declare {sorted(undeclared)}'
        merged = {**load_param_yaml(CONFIG_DIR / f'{node}.param.yaml', node), **overlay}
        from_mapping(cls, merged)  # raises ConfigError naming the bad field


@pytest.mark.parametrize('path', NODE_FILES, ids=[p.name for p in NODE_FILES])
def test_yaml_keys_equal_declared_parameters_and_values_validate(path):
    node = node_of(path).split('.')[0]  # variants like object_detector.jetson share a class
    cls = config_class(node)
    values = load_param_yaml(path, node)
    declared = {f.name for f in field_specs(cls)}
    assert set(values) - declared == set(), 'keys in the YAML that the node does not declare'
    assert declared - set(values) == set(), 'declared parameters missing from the YAML'
    from_mapping(cls, values)  # raises ConfigError naming the bad field


@pytest.mark.parametrize('path', PARAM_FILES, ids=[p.name for p in PARAM_FILES])
def test_every_parameter_has_a_comment(path):
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if ':' in stripped and not stripped.startswith('#') and line.startswith('    ') \
                and not line.startswith('     '):
            assert lines[index - 1].strip().startswith('#'), f'{path.name}: {stripped}'
