"""Lane labels in the TuSimple benchmark format.

One JSON object per line: ``{"lanes": [[x, ...], ...], "h_samples": [y, ...], "raw_file": ...}``
with one x per row of ``h_samples`` for every lane boundary, ``-2`` where the boundary is not
visible. Boundaries are listed left to right, like the benchmark's labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, TextIO

import numpy as np

from av_perception.sim.simulator import GroundTruth

NOT_VISIBLE = -2


def tusimple_record(truth: GroundTruth, raw_file: str, min_points: int = 2) -> dict:
    """Return the TuSimple label of one frame; boundaries with fewer visible rows are left out.

    Pixel columns are rounded to integers, as in the benchmark files.
    """
    lanes = []
    for xs in truth.lanes_x:
        visible = np.isfinite(xs)
        if int(np.count_nonzero(visible)) < min_points:
            continue
        lanes.append([int(round(float(x))) if ok else NOT_VISIBLE
                      for x, ok in zip(xs, visible)])
    return {'lanes': lanes, 'h_samples': [int(y) for y in truth.h_samples],
            'raw_file': raw_file}


def write_tusimple_line(stream: TextIO, record: dict) -> None:
    """Append one record as a JSON line."""
    stream.write(json.dumps(record, separators=(',', ':')) + '\n')


def write_tusimple(path: str | Path, records: Iterable[dict]) -> int:
    """Write records to ``path`` (one JSON object per line); return how many."""
    count = 0
    with open(path, 'w', encoding='utf-8') as stream:
        for record in records:
            write_tusimple_line(stream, record)
            count += 1
    return count


def read_tusimple(path: str | Path) -> list[dict]:
    """Read a TuSimple label file (one JSON object per line, blank lines ignored)."""
    with open(path, encoding='utf-8') as stream:
        return [json.loads(line) for line in stream if line.strip()]
