"""The event simulator (ESIM-style) and the event frames."""
import numpy as np
import pytest

from xsd.world.events import LOG_EPS, SensorParams, simulate
from xsd.world.frames import NEGATIVE, POSITIVE, draw, event_frames, slice_bounds
from xsd.world.layout import EVENT_DTYPE

IDEAL = SensorParams(contrast_threshold=0.2, threshold_mismatch=0.0, refractory_us=0)


def frames(values_over_time, h=4, w=5):
    return np.broadcast_to(np.asarray(values_over_time, float)[:, None, None], (len(values_over_time), h, w)).copy()


def times(n, dt=1000):
    return np.arange(n) * dt


def test_static_scene_without_noise_emits_nothing():
    rng = np.random.default_rng(0)
    scene = np.repeat(rng.uniform(0.05, 1.0, (1, 8, 8)), 50, axis=0)
    events, noise = simulate(scene, times(50), SensorParams(threshold_mismatch=0.05), rng)
    assert len(events) == 0 and len(noise) == 0


def test_brightening_emits_positive_events_one_per_threshold_crossing():
    lum = frames(np.linspace(0.1, 0.8, 11))
    events, _ = simulate(lum, times(11), IDEAL, np.random.default_rng(0))
    per_pixel = int(np.floor((np.log(0.8 + LOG_EPS) - np.log(0.1 + LOG_EPS)) / 0.2))
    assert len(events) == per_pixel * 4 * 5
    assert (events["p"] == 1).all()


def test_darkening_emits_negative_events():
    events, _ = simulate(frames([0.9, 0.5, 0.2]), times(3), IDEAL, np.random.default_rng(0))
    assert len(events) > 0 and (events["p"] == 0).all()


def test_crossing_time_is_interpolated_between_frames():
    # log intensity rises linearly by 0.5 over one frame step: crossings at 0.2/0.5 and 0.4/0.5 of it
    start = 0.5
    end = np.exp(np.log(start + LOG_EPS) + 0.5) - LOG_EPS
    events, _ = simulate(frames([start, end], 1, 1), np.array([0, 10_000]), IDEAL, np.random.default_rng(0))
    assert events["t"].tolist() == [4000, 8000]


def test_timestamps_sorted_and_inside_the_interval_with_noise():
    rng = np.random.default_rng(1)
    lum = rng.uniform(0.05, 1.0, (30, 16, 16))
    t = 5_000_000 + times(30, 3333)
    params = SensorParams(shot_noise_hz=50.0, leak_noise_hz=20.0)
    events, noise = simulate(lum, t, params, rng)
    assert events.dtype == EVENT_DTYPE
    assert (np.diff(events["t"]) >= 0).all()
    assert events["t"].min() >= t[0] and events["t"].max() <= t[-1]
    assert noise.any() and (~noise).any()
    assert events["x"].max() < 16 and events["y"].max() < 16


def test_refractory_period_drops_events_too_close_together():
    lum = frames(np.exp(np.linspace(0, 4, 5)) * 0.01, 1, 1)      # many crossings per step
    free, _ = simulate(lum, times(5, 1000), IDEAL, np.random.default_rng(0))
    held, _ = simulate(lum, times(5, 1000), SensorParams(0.2, 0.0, refractory_us=500), np.random.default_rng(0))
    assert len(held) < len(free)
    assert (np.diff(held["t"]) >= 500).all()


def random_events(n, t0=0, t1=1_000_000, seed=0):
    rng = np.random.default_rng(seed)
    events = np.zeros(n, EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(t0, t1, n))
    events["x"], events["y"] = rng.integers(0, 8, n), rng.integers(0, 6, n)
    events["p"] = rng.integers(0, 2, n)
    return events


@pytest.mark.parametrize("slicing", ["time", "count"])
@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_slicing_partitions_every_event_exactly_once(slicing, n):
    events = random_events(n)
    bounds = slice_bounds(events["t"], (0, 1_000_000), 5, slicing)
    assert bounds[0] == 0 and bounds[-1] == n and (np.diff(bounds) >= 0).all()
    covered = np.concatenate([np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])])
    assert covered.tolist() == list(range(n))


def test_time_slices_hold_the_events_of_their_fifth_of_the_window():
    events = random_events(500)
    bounds = slice_bounds(events["t"], (0, 1_000_000), 5, "time")
    for k in range(5):
        t = events["t"][bounds[k]:bounds[k + 1]]
        assert ((t >= k * 200_000) & (t < (k + 1) * 200_000)).all()


def test_count_slices_are_equal_in_size():
    bounds = slice_bounds(random_events(1000)["t"], (0, 1_000_000), 5, "count")
    assert np.diff(bounds).tolist() == [200] * 5


def test_event_frame_white_background_red_positive_blue_negative_last_event_wins():
    events = np.zeros(3, EVENT_DTYPE)
    events["x"], events["y"], events["p"], events["t"] = [1, 2, 2], [0, 1, 1], [1, 1, 0], [1, 2, 3]
    image = draw(events, 4, 3)
    assert tuple(image[0, 1]) == POSITIVE
    assert tuple(image[1, 2]) == NEGATIVE
    assert (image[2] == 255).all() and tuple(image[0, 0]) == (255, 255, 255)


def test_event_frames_shape():
    stack = event_frames(random_events(100), (0, 1_000_000), 8, 6, 5, "count")
    assert stack.shape == (5, 6, 8, 3) and stack.dtype == np.uint8
