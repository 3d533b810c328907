"""Working out what a model is: format, input size, letterbox, normalisation, class names."""

import pytest

from av_perception.detection.config import DetectorConfig
from av_perception.detection.errors import DetectorError
from av_perception.detection.model import (coco_class_names, infer_format, input_size_of,
                                           load_class_names, parse_metadata, read_sidecar,
                                           resolve_model_info, sidecar_path)


@pytest.mark.parametrize('shape, size, expected', [
    ([1, 3549, 85], (416, 416), 'yolox'),
    ([1, 8400, 85], (640, 640), 'yolox'),
    ([1, 10647, 85], (416, 416), 'yolov5'),
    ([1, 25200, 85], (640, 640), 'yolov5'),
    ([1, 84, 8400], (640, 640), 'yolov8'),
    ([1, 6, 2100], (320, 320), 'yolov8'),
    ([1, 189, 8], (96, 96), 'yolox'),
])
def test_format_is_inferred_from_the_output_shape(shape, size, expected):
    assert infer_format(shape, size) == expected


@pytest.mark.parametrize('shape', [[1, 10], [2, 3549, 85], [1, 4, 100], [1, 100, 5],
                                   [1, 3549, 85, 1]])
def test_unusable_output_shapes_raise_naming_the_shape(shape):
    with pytest.raises(DetectorError, match=str(shape).replace('[', r'\[').replace(']', r'\]')):
        infer_format(shape, (416, 416))


def test_ultralytics_metadata_is_parsed():
    parsed = parse_metadata({'names': "{0: 'person', 1: 'bicycle', 2: 'car'}",
                             'imgsz': '[480, 640]', 'stride': '32', 'task': 'detect',
                             'description': 'Ultralytics YOLOv8n model', 'batch': '1'})
    assert parsed['names'] == ('person', 'bicycle', 'car')
    assert parsed['input_size'] == (640, 480)  # imgsz is [height, width]
    assert parsed['max_stride'] == 32
    assert parse_metadata({}) == {}
    assert parse_metadata({'imgsz': '320'})['input_size'] == (320, 320)


@pytest.mark.parametrize('metadata, fragment', [
    ({'task': 'segment'}, 'segment'),
    ({'names': '{0: person'}, 'names'),
    ({'names': "{1: 'a'}"}, 'indices'),
    ({'imgsz': '[1, 2, 3]'}, 'imgsz'),
    ({'stride': "'big'"}, 'stride'),
])
def test_bad_metadata_raises(metadata, fragment):
    with pytest.raises(DetectorError, match=fragment):
        parse_metadata(metadata)


def test_sidecar_is_found_next_to_the_model_and_checked(tmp_path):
    model = tmp_path / 'net.onnx'
    assert sidecar_path(model) is None
    (tmp_path / 'my.names').write_text('cone\n\nbarrel\n')
    (tmp_path / 'net.onnx.yaml').write_text(
        'format: yolov5\nletterbox: top_left\nnormalization: bgr_0_255\n'
        'input_size: [320, 256]\nlabels: my.names\nstrides: [8, 16]\n')
    assert sidecar_path(model) == tmp_path / 'net.onnx.yaml'
    sidecar = read_sidecar(sidecar_path(model))
    assert sidecar == {'format': 'yolov5', 'letterbox': 'top_left',
                       'normalization': 'bgr_0_255', 'input_size': (320, 256),
                       'labels': ('cone', 'barrel'), 'strides': (8, 16)}
    (tmp_path / 'net.yaml').write_text('names: {0: a, 1: b}\ninput_size: 224\n')
    assert sidecar_path(model) == tmp_path / 'net.yaml'  # <model>.yaml wins
    assert read_sidecar(tmp_path / 'net.yaml') == {'names': ('a', 'b'),
                                                   'input_size': (224, 224)}


@pytest.mark.parametrize('text, fragment', [
    ('formt: yolox\n', 'formt'),
    ('format: yolov3\n', 'yolov3'),
    ('input_size: [320]\n', 'input_size'),
    ('strides: 8\n', 'strides'),
    ('labels: missing.txt\n', 'missing.txt'),
    ('- a list\n', 'mapping'),
    ('format: [unclosed\n', 'cannot read'),
])
def test_bad_sidecars_raise_naming_the_file(tmp_path, text, fragment):
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(DetectorError, match=fragment):
        read_sidecar(path)


def test_labels_files_and_the_shipped_coco_names(tmp_path):
    names = coco_class_names()
    assert len(names) == 80 and names[0] == 'person' and names[2] == 'car'
    assert names[79] == 'toothbrush'
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n\n')
    with pytest.raises(DetectorError, match='no class names'):
        load_class_names(empty)
    with pytest.raises(DetectorError, match='nope.txt'):
        load_class_names(tmp_path / 'nope.txt')


def test_input_size_sources_in_priority_order():
    static = (1, 3, 416, 416)
    dynamic = (1, 3, None, None)
    assert input_size_of(DetectorConfig(), {}, {}, static, 'm') == ((416, 416),
                                                                    'model input shape')
    assert input_size_of(DetectorConfig(), {}, {'input_size': (640, 480)}, dynamic,
                         'm') == ((640, 480), 'metadata')
    assert input_size_of(DetectorConfig(), {'input_size': (320, 320)},
                         {'input_size': (640, 480)}, dynamic, 'm') == ((320, 320), 'sidecar')
    configured = DetectorConfig(input_width=256, input_height=192)
    assert input_size_of(configured, {'input_size': (320, 320)}, {}, dynamic,
                         'm') == ((256, 192), 'config')
    with pytest.raises(DetectorError, match='dynamic input shape'):
        input_size_of(DetectorConfig(), {}, {}, dynamic, 'm.onnx')
    with pytest.raises(DetectorError, match='width 320 .*config.* does not match'):
        input_size_of(DetectorConfig(input_width=320, input_height=416), {}, {}, static,
                      'm.onnx')


def _resolve(shape, config=DetectorConfig(), sidecar=None, metadata=None, labels=None,
             size=(416, 416)):
    return resolve_model_info('m.onnx', 'images', size, 'test', shape, metadata or {},
                              sidecar or {}, config, labels)


def test_format_defaults_follow_the_format():
    yolox = _resolve([1, 3549, 85])
    assert (yolox.format, yolox.letterbox, yolox.normalization) == ('yolox', 'top_left',
                                                                    'bgr_0_255')
    assert yolox.class_names == coco_class_names()
    v8 = _resolve([1, 84, 3549])
    assert (v8.format, v8.letterbox, v8.normalization) == ('yolov8', 'center', 'rgb_0_1')
    assert dict(v8.sources)['format'] == 'output shape [1, 84, 3549]'


def test_config_beats_sidecar_beats_metadata_beats_defaults():
    sidecar = {'format': 'yolov5', 'letterbox': 'top_left', 'names': ('a', 'b')}
    metadata = {'names': ('x', 'y')}
    info = _resolve([1, 3549, 7], sidecar=sidecar, metadata=metadata)
    assert (info.format, info.letterbox, info.normalization) == (
        'yolov5', 'top_left', 'rgb_0_1')
    assert info.class_names == ('a', 'b')
    assert dict(info.sources)['class names'] == 'sidecar names'
    info = _resolve([1, 3549, 7], sidecar=sidecar, metadata=metadata,
                    config=DetectorConfig(model_format='yolox', letterbox='center',
                                          normalization='bgr_0_255', labels_path='l.txt'),
                    labels=('p', 'q'))
    assert (info.format, info.letterbox, info.normalization) == (
        'yolox', 'center', 'bgr_0_255')
    assert info.class_names == ('p', 'q')
    assert _resolve([1, 3549, 7], metadata=metadata).class_names == ('x', 'y')
    assert _resolve([1, 3549, 7]).class_names == ('class_0', 'class_1')
    assert 'yolox 416x416' in info.describe()


def test_mismatches_between_names_shapes_and_format_raise():
    with pytest.raises(DetectorError, match='80 classes .* 2 names'):
        _resolve([1, 3549, 85], metadata={'names': ('x', 'y')})
    with pytest.raises(DetectorError, match='does not fit yolox'):
        _resolve([1, 100, 85], config=DetectorConfig(model_format='yolox'))
    with pytest.raises(DetectorError, match='does not fit yolov8'):
        _resolve([1, 3, 85], config=DetectorConfig(model_format='yolov8'))
    with pytest.raises(DetectorError, match='does not fit yolov5'):
        _resolve([1, 3549, 5], config=DetectorConfig(model_format='yolov5'))


def test_grid_size_decides_before_axis_lengths():
    # At a 64x64 input YOLOX has 84 cells, fewer than its 85 columns.
    assert infer_format([1, 84, 85], (64, 64)) == 'yolox'
    assert infer_format([1, 85, 84], (64, 64)) == 'yolov8'
    assert infer_format([1, 252, 85], (64, 64)) == 'yolov5'
