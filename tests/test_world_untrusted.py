"""Event files are untrusted input: a pickled one is refused and its payload never runs.

Each payload is an object whose unpickling creates a marker file (`Path.touch` through
`__reduce__`); every reader of event files (read_events, `xsd data check`, the recording
importer) must refuse the file with a DataError naming it, and the marker must not exist after.
"""
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xsd.cli import main
from xsd.world.check import check_root
from xsd.world.layout import EVENT_DTYPE, DataError, Layout, read_events, read_json
from xsd.world.recording import import_recording
from xsd.world.video import write_mp4

REFUSED = "pickled event files are refused, because loading them can run code"


class Payload:
    """Unpickling this touches `marker`: stands in for arbitrary code."""

    def __init__(self, marker: Path):
        self.marker = Path(marker)

    def __reduce__(self):
        return Path.touch, (self.marker,)


def synthetic_events(seconds=2.05, rate=20_000, size=(40, 30), seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    events = np.zeros(n, EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(0, int(seconds * 1e6), n))
    events["t"][0] = 0
    events["p"] = rng.integers(0, 2, n)
    events["x"], events["y"] = rng.integers(0, size[0], n), rng.integers(0, size[1], n)
    return events


def write_video(path: Path, seconds=2.0, fps=25) -> Path:
    n = int(seconds * fps)
    frames = (np.arange(n)[:, None, None, None] * 5 % 255 + np.zeros((30, 40, 3))).astype(np.uint8)
    write_mp4(path, frames, fps)
    return path


# -- the planted files: every way a pickle can hide in an event file -----------------------------

def dict_with_payload(path: Path, marker: Path) -> Path:
    """The old 'dict saved with np.save' layout, carrying a payload: a 0-d object array."""
    events = synthetic_events()
    np.save(path, {"x": events["x"], "y": events["y"], "p": events["p"], "t": events["t"],
                   "note": Payload(marker)}, allow_pickle=True)
    return path


def object_array_with_payload(path: Path, marker: Path) -> Path:
    np.save(path, np.array([Payload(marker)] * 3, dtype=object), allow_pickle=True)
    return path


def structured_with_object_field(path: Path, marker: Path) -> Path:
    """x, y, p, t are there, as the reader wants, plus an object field holding the payload."""
    events = synthetic_events(0.01)
    dtype = np.dtype(EVENT_DTYPE.descr + [("extra", object)])
    rich = np.zeros(len(events), dtype)
    for name in "xypt":
        rich[name] = events[name]
    rich["extra"] = Payload(marker)
    np.save(path, rich, allow_pickle=True)
    return path


def npz_with_object_member(path: Path, marker: Path) -> Path:
    events = synthetic_events()
    with open(path, "wb") as f:
        np.savez(f, x=events["x"], y=events["y"], p=events["p"], t=np.array([Payload(marker)], dtype=object))
    return path


def plain_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"x": [1], "y": [1], "p": [1], "t": [0], "note": Payload(marker)}))
    return path


PLANTS = {"dict": dict_with_payload, "object_array": object_array_with_payload,
          "object_field": structured_with_object_field, "npz_object_member": npz_with_object_member,
          "plain_pickle": plain_pickle}


@pytest.fixture(params=sorted(PLANTS))
def planted(request, tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    path = PLANTS[request.param](tmp_path / "events.npy", marker)
    assert not marker.exists()
    return path, marker


def test_the_payloads_are_live(tmp_path):
    """The plants do run code when unpickled, so the tests below are not vacuous."""
    for name, plant in PLANTS.items():
        marker = tmp_path / f"ran_{name}"
        path = plant(tmp_path / f"{name}.npy", marker)
        if name == "plain_pickle":
            pickle.loads(path.read_bytes())
        else:
            loaded = np.load(path, allow_pickle=True)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                loaded["t"]
        assert marker.exists(), name


def test_read_events_refuses_a_pickled_file_and_runs_nothing(planted):
    path, marker = planted
    with pytest.raises(DataError) as error:
        read_events(path)
    assert str(error.value).startswith(f"{path}: ") and REFUSED in str(error.value)
    assert "np.savez" in str(error.value)          # says how to convert
    assert not marker.exists()


def test_recording_importer_refuses_a_pickled_file_and_runs_nothing(planted, tmp_path, capsys):
    path, marker = planted
    video = write_video(tmp_path / "video.mp4")
    with pytest.raises(DataError, match=f"{path}: {REFUSED}"):
        import_recording(path, video, tmp_path / "out", "rec")
    assert main(["data", "import-recording", "--events", str(path), "--video", str(video),
                 "--out", str(tmp_path / "out2"), "--name", "rec"]) == 1
    assert f"{path}: {REFUSED}" in capsys.readouterr().err
    assert not marker.exists()
    assert not (tmp_path / "out" / "clips.json").exists()


def test_data_check_reports_a_pickled_event_file_and_runs_nothing(tmp_path, capsys):
    """A world whose clip file was swapped for a payload: `xsd data check` names it, runs nothing."""
    root = tmp_path / "world"
    events = tmp_path / "events.npy"
    np.save(events, synthetic_events(), allow_pickle=False)
    import_recording(events, write_video(tmp_path / "video.mp4"), root, "rec")
    assert check_root(root, progress=False) == []
    clip = read_json(Layout(root).clips)[0]
    target = Layout(root).event_npy(clip["seq"], clip["clip"])
    marker = tmp_path / "PAYLOAD_RAN"
    dict_with_payload(target, marker)
    problems = check_root(root, progress=False)
    assert any(p.startswith(f"{target}: {REFUSED}") for p in problems), problems
    assert main(["data", "check", str(root), "--quiet"]) == 1
    assert f"{target}: {REFUSED}" in capsys.readouterr().out
    assert not marker.exists()


# -- the layouts that are accepted, and the ones that are not -------------------------------------

def test_structured_npy_and_npz_load(tmp_path):
    events = synthetic_events(0.5)
    np.save(tmp_path / "structured.npy", events, allow_pickle=False)
    assert (read_events(tmp_path / "structured.npy") == events).all()
    np.savez(tmp_path / "arrays.npz", **{k: events[k] for k in "xypt"})
    assert (read_events(tmp_path / "arrays.npz") == events).all()
    np.savez_compressed(tmp_path / "compressed.npz", x=events["x"].astype(np.int64),
                        y=events["y"].astype(np.int32), t=events["t"],
                        p=np.where(events["p"] > 0, 1, -1).astype(np.int8), extra=np.zeros(3))
    assert (read_events(tmp_path / "compressed.npz", (0, 500_000)) == events).all()
    (tmp_path / "named.npy").write_bytes((tmp_path / "arrays.npz").read_bytes())   # found by content
    assert (read_events(tmp_path / "named.npy") == events).all()


def test_npz_importer_gives_the_same_clips_as_the_npy(tmp_path):
    events = synthetic_events()
    video = write_video(tmp_path / "video.mp4")
    np.save(tmp_path / "e.npy", events)
    np.savez(tmp_path / "e.npz", **{k: events[k] for k in "xypt"})
    a = import_recording(tmp_path / "e.npy", video, tmp_path / "a", "rec")
    b = import_recording(tmp_path / "e.npz", video, tmp_path / "b", "rec")
    assert a["n_clips"] == b["n_clips"] == 3
    for clip in read_json(Layout(tmp_path / "a").clips):
        paths = [Layout(tmp_path / r).event_npy("rec", clip["clip"]) for r in "ab"]
        assert paths[0].read_bytes() == paths[1].read_bytes()
    assert check_root(tmp_path / "b", progress=False) == []


def test_plain_n_by_4_array_is_refused_with_the_way_to_convert(tmp_path):
    """A bare [N, 4] array has no field names, so its column order (x, y, t, p? t, x, y, p?) is a guess."""
    events = synthetic_events(0.1)
    path = tmp_path / "plain.npy"
    np.save(path, np.stack([events[k].astype(np.int64) for k in "xytp"], axis=1))
    with pytest.raises(DataError, match=rf"{path}: a plain int64 array of shape \[\d+, 4\] has no field names"
                                        r".*structured array.*np\.savez"):
        read_events(path)


def test_npz_missing_a_field_and_not_an_event_file(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, x=np.zeros(3), y=np.zeros(3), t=np.arange(3))
    with pytest.raises(DataError, match=rf"{path}: event fields \['p'\] missing"):
        read_events(path)
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("x.npy", b"not an array")
    with pytest.raises(DataError, match=str(tmp_path / "z.npz")):
        read_events(tmp_path / "z.npz")
    (tmp_path / "text.npy").write_text("x,y,t,p\n1,2,3,1\n")
    with pytest.raises(DataError, match=f"{tmp_path / 'text.npy'}: not an .npy or .npz file"):
        read_events(tmp_path / "text.npy")
