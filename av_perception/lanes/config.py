"""Configuration of the lane detector: one validated frozen dataclass (the node's parameters)."""

from __future__ import annotations

from dataclasses import dataclass

from av_perception.params import CameraInputConfig, ConfigError, field_specs, parameter, validate


@dataclass(frozen=True)
class LaneDetectorConfig:
    """Every setting of :class:`~av_perception.lanes.detector.LaneDetector`.

    Distances are metres in the vehicle frame (x forward, y left), angles degrees.
    """

    # camera mounting (used with intrinsics when no ground point pairs are given); the
    # defaults are the reference vehicle of our simulator (av_perception.sim): set yours
    camera_height_m: float = parameter(
        1.4, 'camera height above the road', low=0.2, high=10.0)
    camera_pitch_deg: float = parameter(
        4.0, 'camera pitch, positive looks down', low=-20.0, high=60.0)
    camera_yaw_deg: float = parameter(
        0.0, 'camera yaw, positive looks left', low=-45.0, high=45.0)
    camera_roll_deg: float = parameter(
        0.0, 'camera roll about the forward axis', low=-30.0, high=30.0)
    camera_x_m: float = parameter(
        1.6, 'camera position ahead of the vehicle origin (offset and heading refer to the '
        'origin)', low=-20.0, high=20.0)
    camera_y_m: float = parameter(
        0.0, 'camera position left of the vehicle origin', low=-5.0, high=5.0)
    default_horizontal_fov_deg: float = parameter(
        65.0, 'field of view of the distortion-free pinhole camera assumed until a CameraInfo '
        'or camera file gives the intrinsics', low=10.0, high=170.0)
    ground_points_image_px: tuple = parameter(
        (0.0,) * 8, "optional bird's-eye calibration by four (or more) points: u1, v1, ..., "
        'u4, v4 in raw image pixels; replaces the mounting parameters unless all zero')
    ground_points_m: tuple = parameter(
        (0.0,) * 8, 'road positions x1, y1, ..., x4, y4 (metres, vehicle frame) of '
        'ground_points_image_px')
    ground_points_image_size: tuple = parameter(
        (0, 0), 'width, height of the image ground_points_image_px were picked in (scaled to '
        'the actual image size); 0, 0: the actual size', low=0)
    ignore_bottom_fraction: float = parameter(
        0.0, 'fraction of image rows at the bottom that never count as road (vehicle hood)',
        low=0.0, high=0.5)
    # bird's-eye view
    bev_near_m: float = parameter(
        3.0, "nearest distance in the bird's-eye view (raised to the first visible road row)",
        low=0.0, high=50.0)
    bev_far_m: float = parameter(
        40.0, "farthest distance in the bird's-eye view", low=5.0, high=200.0)
    bev_half_width_m: float = parameter(
        4.0, 'the view covers y in [-half width, +half width]', low=2.0, high=20.0)
    bev_lateral_resolution_m: float = parameter(
        0.05, "bird's-eye pixel size across the road", low=0.01, high=0.5)
    bev_longitudinal_resolution_m: float = parameter(
        0.25, "bird's-eye pixel size along the road", low=0.02, high=1.0)
    # marking mask
    marking_width_m: float = parameter(
        0.15, 'typical width of a painted line', low=0.05, high=0.6)
    white_contrast_min: float = parameter(
        14.0, 'a marking pixel is this much brighter (luma, 0-255) than the road on both sides',
        low=1.0, high=255.0)
    white_contrast_relative: float = parameter(
        0.12, '... and at least this fraction of the road luma beside it', low=0.0, high=2.0)
    white_chroma_max: float = parameter(
        24.0, 'a white marking pixel has |Cr - 128| (YCrCb red-green chroma) at most this; '
        'rejects tail and brake lights', low=1.0, high=128.0)
    seam_contrast_min: float = parameter(
        0.0, 'thin grey lines this much darker (luma) than the road on both sides count as '
        'boundary evidence (concrete lane joints); 0 disables', low=0.0, high=255.0)
    yellow_contrast_min: float = parameter(
        7.0, 'a yellow marking pixel is this much yellower (255 - Cb of YCrCb) than the road on '
        'both sides', low=1.0, high=127.0)
    yellowness_min: float = parameter(
        140.0, 'a yellow marking pixel has at least this yellowness (255 - Cb; 128 is neutral '
        'grey)', low=128.0, high=255.0)
    # search and fit
    lane_width_m: float = parameter(
        3.6, 'expected lane width, used to pair boundaries and to infer a missing one',
        low=2.0, high=6.0)
    lane_width_min_m: float = parameter(
        2.4, 'narrowest plausible lane', low=1.5, high=6.0)
    lane_width_max_m: float = parameter(
        4.8, 'widest plausible lane', low=2.0, high=8.0)
    window_count: int = parameter(
        10, 'sliding windows along the view', low=3, high=50)
    window_margin_m: float = parameter(
        0.5, 'half width of a sliding window', low=0.1, high=2.0)
    window_follow_margin_m: float = parameter(
        0.3, 'half width of the sliding windows after the first one that found the line',
        low=0.05, high=2.0)
    window_min_pixels: int = parameter(
        6, 'marking pixels a window needs to re-centre (and to count as support)', low=1,
        high=1000)
    search_margin_m: float = parameter(
        0.35, 'half width of the band searched around the previous fit', low=0.05, high=2.0)
    min_coverage: float = parameter(
        0.2, 'fraction of windows with marking support a boundary needs', low=0.0, high=1.0)
    quadratic_min_span_m: float = parameter(
        12.0, 'a boundary seen over a shorter distance is fitted as a straight line', low=2.0,
        high=100.0)
    max_curvature_per_m: float = parameter(
        0.03, 'boundaries curving more sharply (1/radius) are rejected', low=0.001, high=1.0)
    max_width_variation_m: float = parameter(
        0.7, 'parallelism: largest change of the lane width along the fitted range',
        low=0.05, high=5.0)
    estimate_pitch: bool = parameter(
        True, 'estimate the camera pitch relative to the road from lane parallelism (needs '
        'the mounting parameters, not ground points)')
    max_pitch_offset_deg: float = parameter(
        3.0, 'largest accepted pitch correction', low=0.0, high=15.0)
    pitch_update_period: int = parameter(
        2, 'while tracking, re-estimate the pitch every n-th frame (it changes slowly)', low=1,
        high=100)
    pitch_smoothing: float = parameter(
        0.3, 'weight of a new pitch measurement in the running estimate', low=0.01, high=1.0)
    parallel_fit: bool = parameter(
        True, 'refit two plausible boundaries together with a shared heading and curvature')
    # tracking
    smoothing: float = parameter(
        0.5, 'weight of a new measurement in the smoothed boundary (1: no smoothing)',
        low=0.05, high=1.0)
    outlier_threshold_m: float = parameter(
        0.5, 'a fit farther than this (mean lateral distance) from the track is an outlier',
        low=0.05, high=5.0)
    max_outliers: int = parameter(
        3, 'consecutive outliers after which the new fit replaces the track', low=1,
        high=100)
    max_missed_frames: int = parameter(
        8, 'frames a boundary is kept (with decaying confidence) without a measurement',
        low=0, high=1000)
    reset_gap_s: float = parameter(
        1.0, 'a time gap longer than this, or time going backwards, resets the tracks',
        low=0.01, high=3600.0)
    min_confidence: float = parameter(
        0.25, 'boundaries with a lower confidence (0-1) are reported invalid', low=0.0,
        high=1.0)
    inferred_confidence_factor: float = parameter(
        0.5, 'confidence of a boundary inferred from the other one and the lane width, '
        'relative to that one', low=0.0, high=1.0)
    # output
    path_step_m: float = parameter(
        1.0, 'spacing of the metric boundary and centre line points', low=0.1, high=10.0)
    extend_to_horizon: bool = parameter(
        True, 'extend pixel boundaries along their image direction towards the vanishing '
        "point (beyond the bird's-eye range)")
    horizon_margin_fraction: float = parameter(
        0.035, 'the pixel extension stops this fraction of the image height below the '
        'vanishing point', low=0.0, high=0.5)

    def __post_init__(self) -> None:
        """Validate every field, then the cross-field rules."""
        validate(self)
        name = type(self).__name__
        points = self.ground_points_image_px
        if len(points) != len(self.ground_points_m):
            raise ConfigError(f'{name}.ground_points_m={self.ground_points_m!r}: needs as many '
                              f'values as ground_points_image_px ({points!r})')
        if len(points) < 8 or len(points) % 2:
            raise ConfigError(f'{name}.ground_points_image_px={points!r}: needs at least four '
                              'u, v pairs (all zero: unused)')
        size = self.ground_points_image_size
        if len(size) != 2 or (0 in size and size != (0, 0)):
            raise ConfigError(f'{name}.ground_points_image_size={size!r}: must be (width, '
                              'height) or (0, 0)')
        if not self.lane_width_min_m < self.lane_width_m < self.lane_width_max_m:
            raise ConfigError(f'{name}.lane_width_m={self.lane_width_m!r}: must lie strictly '
                              f'between lane_width_min_m={self.lane_width_min_m!r} and '
                              f'lane_width_max_m={self.lane_width_max_m!r}')
        if self.bev_far_m <= self.bev_near_m + 2.0:
            raise ConfigError(f'{name}.bev_far_m={self.bev_far_m!r}: must exceed bev_near_m='
                              f'{self.bev_near_m!r} by more than 2 m')
        if self.bev_half_width_m < self.lane_width_m:
            raise ConfigError(f'{name}.bev_half_width_m={self.bev_half_width_m!r}: must be at '
                              f'least lane_width_m={self.lane_width_m!r} to see both boundaries '
                              'of an off-centre lane')
        if self.marking_width_m < 2 * self.bev_lateral_resolution_m:
            raise ConfigError(f'{name}.bev_lateral_resolution_m='
                              f'{self.bev_lateral_resolution_m!r}: must be at most half of '
                              f'marking_width_m={self.marking_width_m!r}')

    @property
    def uses_ground_points(self) -> bool:
        """Return True when the bird's-eye view is calibrated by point pairs, not mounting."""
        return any(v != 0.0 for v in self.ground_points_image_px)


@dataclass(frozen=True)
class LaneDetectorNodeConfig(CameraInputConfig, LaneDetectorConfig):
    """All parameters of the ``lane_detector`` node: the detector plus input and output."""

    output_frame: str = parameter(
        'base_link', 'frame_id of the output paths and markers: the vehicle frame (x forward, '
        'y left) whose origin the camera_x_m/camera_y_m mounting refers to')

    def __post_init__(self) -> None:
        """Validate the detector fields, then the node fields."""
        super().__post_init__()
        if not self.output_frame.strip():
            raise ConfigError(f'{type(self).__name__}.output_frame={self.output_frame!r}: '
                              'must name a frame')

    def detector_config(self) -> LaneDetectorConfig:
        """Return the detector part (what :class:`LaneDetector` takes)."""
        return LaneDetectorConfig(**{f.name: getattr(self, f.name)
                                     for f in field_specs(LaneDetectorConfig)})
