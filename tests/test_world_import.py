"""The DSEC and recording importers, and every bad-input case of issue 3."""
from pathlib import Path

import numpy as np
import pytest

from xsd.cli import main
from xsd.world.check import check_root
from xsd.world.dataset import WorldDataset
from xsd.world.dsec import import_dsec
from xsd.world.layout import EVENT_DTYPE, DataError, Layout, read_events, read_json, read_png
from xsd.world.recording import import_recording
from xsd.world.video import read_mp4, sample_clip, write_mp4

T_OFFSET = 1_700_000_000


def synthetic_events(seconds: float, rate: int = 20_000, size=(40, 30), seed=0, gap=None):
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.sort(rng.integers(0, int(seconds * 1e6), n))
    t[0] = 0
    if gap:
        t = t[(t < gap[0]) | (t >= gap[1])]
    events = np.zeros(len(t), EVENT_DTYPE)
    events["t"], events["p"] = t, rng.integers(0, 2, len(t))
    events["x"], events["y"] = rng.integers(0, size[0], len(t)), rng.integers(0, size[1], len(t))
    return events


def write_dsec_sequence(root: Path, name: str, seconds: float = 2.2, drop=(), image_times=None):
    import h5py
    import hdf5plugin

    seq = root / name
    (seq / "events" / "left").mkdir(parents=True)
    events = synthetic_events(seconds, size=(640, 480))
    ms_to_idx = np.searchsorted(events["t"], np.arange(0, int(seconds * 1000) + 1) * 1000)
    with h5py.File(seq / "events" / "left" / "events.h5", "w") as f:
        for k in "xypt":
            if f"events/{k}" not in drop:
                f.create_dataset(f"events/{k}", data=events[k], **hdf5plugin.Blosc(cname="lz4"))
        if "ms_to_idx" not in drop:
            f.create_dataset("ms_to_idx", data=ms_to_idx.astype(np.uint64))
        f.create_dataset("t_offset", data=np.int64(T_OFFSET))
    png_dir = seq / "images" / "left" / "rectified"
    png_dir.mkdir(parents=True)
    times = image_times if image_times is not None else np.arange(0, int(seconds * 1e6), 50_000)
    from PIL import Image
    for i in range(len(times)):
        Image.fromarray(np.full((24, 32, 3), 10 * (i % 20), np.uint8)).save(png_dir / f"{i:06d}.png")
    np.savetxt(seq / "images" / "timestamps.txt", np.asarray(times) + T_OFFSET, fmt="%d")
    return events


def test_dsec_fixture_is_read_back_into_clips(tmp_path):
    events = write_dsec_sequence(tmp_path / "dsec", "zurich_city_00_a")
    manifest = import_dsec(tmp_path / "dsec", tmp_path / "out", progress=False)
    assert manifest["failed"] == []
    clips = read_json(Layout(tmp_path / "out").clips)
    assert [(c["t_start_us"], c["t_end_us"]) for c in clips] == [(0, 1_000_000), (500_000, 1_500_000),
                                                                 (1_000_000, 2_000_000)]
    for clip in clips:
        window = (clip["t_start_us"], clip["t_end_us"])
        stored = read_events(Layout(tmp_path / "out").event_npy(clip["seq"], clip["clip"]), window)
        expected = events[(events["t"] >= window[0]) & (events["t"] < window[1])]
        assert (stored == expected).all() and clip["frame_range"][1] - clip["frame_range"][0] == 20
    ds = WorldDataset(tmp_path / "out", "all")
    assert len(ds) == 3 * 10
    assert ds.video_frames(ds[0]).shape == (8, 24, 32, 3) and ds.event_frames(ds[0]).shape == (1, 480, 640, 3)
    assert check_root(tmp_path / "out", progress=False) == []


def test_dsec_missing_dataset_and_corrupt_h5_are_recorded_and_the_rest_imports(tmp_path):
    write_dsec_sequence(tmp_path / "dsec", "good")
    write_dsec_sequence(tmp_path / "dsec", "no_t", drop=("events/t",))
    write_dsec_sequence(tmp_path / "dsec", "garbage")
    h5 = tmp_path / "dsec" / "garbage" / "events" / "left" / "events.h5"
    h5.write_bytes(h5.read_bytes()[:300])
    manifest = import_dsec(tmp_path / "dsec", tmp_path / "out", progress=False)
    assert manifest["failed"] == ["garbage", "no_t"]
    assert "/events/t" in manifest["sequences"]["no_t"]["reason"]
    assert "events.h5" in manifest["sequences"]["garbage"]["reason"]
    assert manifest["sequences"]["good"]["status"] == "ok" and manifest["n_clips"] == 3
    assert main(["data", "import-dsec", "--dsec-root", str(tmp_path / "dsec"), "--out", str(tmp_path / "o2"),
                 "--quiet"]) == 1


def test_dsec_sequence_shorter_than_a_clip(tmp_path):
    write_dsec_sequence(tmp_path / "dsec", "short", seconds=0.8)
    manifest = import_dsec(tmp_path / "dsec", tmp_path / "out", progress=False)
    assert "a clip needs 1 s" in manifest["sequences"]["short"]["reason"]


def write_recording(tmp_path: Path, seconds=2.0, fps=25, as_npz=False, gap=None, grey=False):
    events = synthetic_events(seconds + 0.05, gap=gap)      # events outlast the video a little
    if as_npz:                                               # named arrays x, y, p, t
        path = tmp_path / "events.npz"
        np.savez(path, **{k: events[k] for k in "xypt"})
    else:                                                    # a structured array
        path = tmp_path / "events.npy"
        np.save(path, events, allow_pickle=False)
    n = int(seconds * fps)
    shape = (n, 30, 40) if grey else (n, 30, 40, 3)
    frames = (np.arange(n)[:, None, None] * 5 % 255 + np.zeros(shape[1:3])).astype(np.uint8)
    if not grey:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    write_mp4(tmp_path / "video.mp4", frames, fps)
    return events, path, tmp_path / "video.mp4"


@pytest.mark.parametrize("as_npz", [False, True])
def test_recording_importer_on_a_synthetic_recording(tmp_path, as_npz):
    events, events_path, video = write_recording(tmp_path, as_npz=as_npz, grey=as_npz)
    manifest = import_recording(events_path, video, tmp_path / "out", "rec", video_start_us=0)
    assert manifest["n_clips"] == 3 and manifest["last_import"]["skipped"] == []
    clip = read_json(Layout(tmp_path / "out").clips)[1]
    assert clip["sensor_size"] == [40, 30] and clip["frame_range"] == [13, 38]
    stored = read_events(Layout(tmp_path / "out").event_npy("rec", clip["clip"]))
    assert (stored == events[(events["t"] >= 500_000) & (events["t"] < 1_500_000)]).all()
    image = read_png(Layout(tmp_path / "out").event_image("rec", clip["clip"], 0))
    assert image.shape == (30, 40, 3)
    assert check_root(tmp_path / "out", progress=False) == []


def test_recording_with_an_empty_window_lists_the_skipped_clip(tmp_path):
    _, events_path, video = write_recording(tmp_path, seconds=3.0, gap=(1_000_000, 2_000_100))
    manifest = import_recording(events_path, video, tmp_path / "out", "rec")
    skipped = manifest["last_import"]["skipped"]
    assert [s["clip"] for s in skipped] == ["000002"] and "no events" in skipped[0]["reason"]
    assert manifest["n_clips"] == 4


def test_recording_video_start_shifts_the_frames(tmp_path):
    _, events_path, video = write_recording(tmp_path, seconds=2.0)
    manifest = import_recording(events_path, video, tmp_path / "out", "rec", video_start_us=600_000)
    assert manifest["n_clips"] == 1      # overlap [600 ms, 2 s): one full second


def test_events_outside_the_given_sensor_size_are_an_error(tmp_path):
    _, events_path, video = write_recording(tmp_path)
    with pytest.raises(DataError, match="outside the sensor size 20x30"):
        import_recording(events_path, video, tmp_path / "out", "rec", sensor_size=(20, 30))


# -- bad input: each names the file and the problem -----------------------------------------------

def test_corrupt_and_truncated_npy(tmp_path):
    events, path, _ = write_recording(tmp_path)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match=f"{path}.*(truncated|corrupt)"):
        read_events(path)
    path.write_bytes(b"garbage that is no npy")
    with pytest.raises(DataError, match=str(path)):
        read_events(path)


def test_npy_missing_fields_and_out_of_order_timestamps(tmp_path):
    path = tmp_path / "e.npy"
    np.save(path, np.zeros(3, [("x", "u2"), ("y", "u2"), ("t", "i8")]))
    with pytest.raises(DataError, match=r"\['p'\] missing"):
        read_events(path)
    events = synthetic_events(1.0)
    events["t"][[10, 11]] = events["t"][[11, 10]] + [0, 1]
    np.save(path, events)
    with pytest.raises(DataError, match=f"{path}: timestamps out of order"):
        read_events(path)
    (tmp_path / "rec").mkdir()
    _, _, video = write_recording(tmp_path / "rec")
    with pytest.raises(DataError, match=f"{path}: timestamps out of order"):
        import_recording(path, video, tmp_path / "out", "rec")


def test_truncated_png(tmp_path):
    from PIL import Image
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(DataError, match=f"{path}: corrupt or truncated PNG"):
        read_png(path)


def test_corrupt_missing_and_too_short_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01" * 500)
    with pytest.raises(DataError, match=str(bad)):
        read_mp4(bad)
    with pytest.raises(DataError, match="missing"):
        read_mp4(tmp_path / "nothing.mp4")
    write_mp4(tmp_path / "short.mp4", np.zeros((5, 16, 16, 3), np.uint8), 24)
    frames, _ = read_mp4(tmp_path / "short.mp4")
    with pytest.raises(DataError, match="5 video frames, 8 needed"):
        sample_clip(frames, (0, 5), str(tmp_path / "short.mp4"))


def test_recording_shorter_than_one_second(tmp_path):
    _, events_path, video = write_recording(tmp_path, seconds=0.7)
    with pytest.raises(DataError, match="a clip needs 1 s"):
        import_recording(events_path, video, tmp_path / "out", "rec")
    assert main(["data", "import-recording", "--events", str(events_path), "--video", str(video),
                 "--out", str(tmp_path / "out"), "--name", "rec"]) == 1


def test_video_too_slow_for_eight_frames_per_clip_is_skipped_with_reason(tmp_path):
    _, events_path, video = write_recording(tmp_path, seconds=2.0, fps=5)
    manifest = import_recording(events_path, video, tmp_path / "out", "rec")
    assert manifest["n_clips"] == 0
    assert all("8 needed" in s["reason"] for s in manifest["last_import"]["skipped"])
