"""The on-disk layout the study used, and safe writers and checked readers for its files.

    ROOT/
      event_npy/{seq}/{clip}.npy        raw events of one 1 s clip: structured array x, y, p (0/1), t (µs),
                                        saved and read without pickle
      event_image/{seq}/{clip}_{k}.png  k = 0..4: the clip's events in 5 equal-time slices
      mp4/{seq}.mp4                     the RGB video of the whole sequence
      meta/{seq}.json                   one sequence's clips, truth and questions; written last,
                                        so its presence marks the sequence complete (resume)
      clips.json, questions.json, splits.json, manifest.json   assembled from meta/ after a build

Event timestamps are µs on the sequence's clock; each clip record gives its window
[t_start_us, t_end_us) and the range of video frames [first, stop) that fall inside it.
Every writer goes through a temporary file and a rename, so a killed build never leaves a
half-written file under its final name. Every reader raises `DataError` naming the file.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "u1"), ("t", "<i8")])
N_SLICES = 5


class DataError(ValueError):
    """A missing, corrupt or inconsistent data file; the message names the file."""


class Layout:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def event_npy(self, seq: str, clip: str) -> Path:
        return self.root / "event_npy" / seq / f"{clip}.npy"

    def event_image(self, seq: str, clip: str, k: int) -> Path:
        return self.root / "event_image" / seq / f"{clip}_{k}.png"

    def mp4(self, seq: str) -> Path:
        return self.root / "mp4" / f"{seq}.mp4"

    def meta(self, seq: str) -> Path:
        return self.root / "meta" / f"{seq}.json"

    @property
    def clips(self) -> Path:
        return self.root / "clips.json"

    @property
    def questions(self) -> Path:
        return self.root / "questions.json"

    @property
    def splits(self) -> Path:
        return self.root / "splits.json"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def finished_sequences(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "meta").glob("*.json"))


# -- atomic writers ------------------------------------------------------------------------------

def write_bytes(path: Path, data: bytes) -> None:
    from xsd.cache import replace_atomically

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda temporary: temporary.write_bytes(data))


def write_json(path: Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def write_events(path: Path, events: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(events, dtype=EVENT_DTYPE), allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


# -- checked readers -----------------------------------------------------------------------------

def read_json(path: Path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None


def read_png(path: Path) -> np.ndarray:
    """An RGB image as uint8 [H, W, 3]."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: corrupt or truncated PNG ({error})") from None


EVENT_CONVERT_HINT = ("save the events as a structured array with fields x, y, p, t "
                      "(np.save(path, events, allow_pickle=False)) or as an .npz of x, y, p, t arrays "
                      "(np.savez(path, x=x, y=y, p=p, t=t))")
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def read_events(path: Path, window: tuple[int, int] | None = None) -> np.ndarray:
    """Events of an .npy (structured array with fields x, y, p, t) or an .npz (arrays x, y, p, t) as EVENT_DTYPE.

    Event files come from other people's recordings, so they are untrusted: nothing is ever
    unpickled. A pickled file (an object array, such as a dict saved with np.save, or a plain
    pickle) is refused with a `DataError` before numpy reads its data. Checks that timestamps are
    in order and, given `window` = (t0, t1), inside [t0, t1).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing")
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
            if magic.startswith(_ZIP_MAGIC):
                raw = _read_npz(path)
            elif magic == _NPY_MAGIC:
                f.seek(0)
                _refuse_object_dtype(path, _npy_dtype(f))
                raw = np.load(path, allow_pickle=False)
            elif magic[:1] == b"\x80":          # the protocol opcode every pickle (≥ 2) starts with
                raise _pickled(path, "a pickle, not an .npy")
            else:
                raise DataError(f"{path}: not an .npy or .npz file")
    except DataError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):      # numpy met pickled data we did not spot first
            raise _pickled(path, "pickled data") from None
        raise DataError(f"{path}: corrupt or truncated npy ({error})") from None
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: corrupt or truncated npy ({error})") from None
    except Exception as error:  # a damaged zip or header raises assorted exception types
        raise DataError(f"{path}: corrupt npy ({type(error).__name__}: {error})") from None
    events = to_event_array(raw, where=str(path))
    check_events(events, where=str(path), window=window)
    return events


def _pickled(path: Path, what: str) -> DataError:
    return DataError(f"{path}: pickled event files are refused, because loading them can run code "
                     f"({what}); {EVENT_CONVERT_HINT}")


def _npy_dtype(f) -> np.dtype:
    """The dtype in an npy header, read without touching the data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        _, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        _, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:   # 3.0 (utf-8 field names): numpy has no public reader; np.load refuses object data anyway
        return np.dtype(np.uint8)
    return dtype


def _refuse_object_dtype(path: Path, dtype: np.dtype, member: str = "") -> None:
    if dtype.hasobject:
        what = f"member {member!r} is an object array" if member else (
            "an object array, e.g. a dict saved with np.save")
        raise _pickled(path, what)


def _read_npz(path: Path) -> dict:
    """The x, y, p, t arrays of an .npz, with allow_pickle=False and every member's dtype checked first."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = [m[:-len(".npy")] for m in npz.zip.namelist() if m.endswith(".npy")]
        for name in arrays:
            with npz.zip.open(f"{name}.npy") as member:
                _refuse_object_dtype(path, _npy_dtype(member), member=name)
        return {name: npz[name] for name in arrays}


def to_event_array(raw, where: str) -> np.ndarray:
    """Structured array, or dict of arrays (an .npz, DSEC's HDF5 datasets), with x, y, p, t → EVENT_DTYPE."""
    if isinstance(raw, np.ndarray) and raw.dtype.names:
        fields, get = raw.dtype.names, raw.__getitem__
    elif isinstance(raw, dict):
        fields, get = tuple(raw), raw.__getitem__
    elif isinstance(raw, np.ndarray) and raw.ndim == 2:
        raise DataError(f"{where}: a plain {raw.dtype} array of shape {list(raw.shape)} has no field names, "
                        f"so its column order is unknown; {EVENT_CONVERT_HINT}")
    else:
        raise DataError(f"{where}: expected a structured array or arrays with fields x, y, p, t; "
                        f"found {type(raw).__name__} {getattr(raw, 'dtype', '')}")
    missing = [f for f in "xypt" if f not in fields]
    if missing:
        raise DataError(f"{where}: event fields {missing} missing (has {list(fields)})")
    columns = {f: np.asarray(get(f)).reshape(-1) for f in "xypt"}
    lengths = {f: len(c) for f, c in columns.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"{where}: event fields have different lengths {lengths}")
    p = columns["p"]
    if p.size and not np.isin(p, (0, 1, -1)).all():
        raise DataError(f"{where}: polarity p must be 0/1 (or -1/1); found values {np.unique(p)[:5]}")
    if (columns["x"] < 0).any() or (columns["y"] < 0).any():
        raise DataError(f"{where}: negative pixel coordinates")
    events = np.empty(lengths["x"], dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"] = columns["x"], columns["y"], columns["t"]
    events["p"] = p > 0
    return events


def check_events(events: np.ndarray, where: str, window: tuple[int, int] | None = None) -> None:
    t = events["t"]
    if t.size > 1 and (np.diff(t) < 0).any():
        first = int(np.argmax(np.diff(t) < 0))
        raise DataError(f"{where}: timestamps out of order at event {first + 1} "
                        f"({t[first]} µs then {t[first + 1]} µs)")
    if window is not None and t.size and (t[0] < window[0] or t[-1] >= window[1]):
        raise DataError(f"{where}: timestamps {t[0]}..{t[-1]} µs fall outside the clip window "
                        f"[{window[0]}, {window[1]}) µs")
