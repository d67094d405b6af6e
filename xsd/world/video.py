"""RGB video: mp4 written and read with PyAV, and the uniform 8-frame sampling of the target.

Encoding uses libx264 on one thread with fixed settings and without macroblock-tree rate
control, so the same frames give the same bytes (checked by the tests; decoded frames are what
the pipeline relies on). Odd frame sizes are cropped by one pixel, since yuv420p needs even sizes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from xsd.world.layout import DataError

TARGET_FRAMES = 8
CRF = "12"
# mbtree=0: x264's macroblock-tree rate control reads heap memory it never initialised (the
# x264 core 165 in the PyAV 16-18 wheels, threads=1 or not), so its output depends on what earlier
# encodes left behind: the first mp4 of a process is reproducible, the next ones are not, and two
# builds of a world in one process differed. The output changes with glibc's MALLOC_PERTURB_ byte
# with mbtree on and does not with it off; bframes=0 alone is not enough. Costs ~5-30% larger
# files at the same CRF (quality slightly higher).
X264_OPTIONS = {"crf": CRF, "preset": "medium", "threads": "1", "x264-params": "mbtree=0"}


def write_mp4(path: Path, frames, fps: float) -> None:
    """Write uint8 frames ([H, W, 3] or [H, W] grey; an array or any iterable) to path atomically."""
    import av

    from xsd.cache import replace_atomically

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(temporary: Path) -> None:
        with av.open(str(temporary), mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                frame = _rgb_even(frame)
                if stream is None:
                    stream = _open_stream(container, fps, frame.shape)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            if stream is None:
                raise ValueError(f"{path}: no frames to write")
            for packet in stream.encode():
                container.mux(packet)

    replace_atomically(path, write)


def _open_stream(container, fps, shape):
    from fractions import Fraction

    # options at add_stream: they are handed to avcodec_open2 when the encoder opens
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001),
                                  options=dict(X264_OPTIONS))
    stream.width, stream.height = shape[1], shape[0]
    stream.pix_fmt = "yuv420p"
    stream.thread_count = 1
    return stream


def _rgb_even(frame) -> np.ndarray:
    frame = np.asarray(frame, dtype=np.uint8)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    return np.ascontiguousarray(frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2, :3])


def read_mp4(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames uint8 [T, H, W, 3] and their times in seconds [T]; DataError if unreadable."""
    import av

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing")
    frames, times = [], []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rgb = av.video.reformatter.VideoReformatter()
            for frame in container.decode(stream):
                # one reformatter for the whole clip: the same pixels as frame.to_ndarray(format="rgb24"),
                # which sets up a new scaler per frame (~6 ms each, 30× slower)
                frames.append(rgb.reformat(frame, format="rgb24").to_ndarray())
                times.append(float(frame.time) if frame.time is not None else np.nan)
    except DataError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as error:
        raise DataError(f"{path}: corrupt or unreadable video ({error})") from None
    if not frames:
        raise DataError(f"{path}: no decodable frames")
    times = np.asarray(times)
    if np.isnan(times).any():
        times = np.arange(len(frames)) / float(stream.average_rate or 1)
    return np.stack(frames), times


def uniform_indices(n_available: int, k: int = TARGET_FRAMES) -> np.ndarray:
    """k indices spread evenly over n frames, first and last included (Video-LLaVA's sampling)."""
    if n_available < k:
        raise ValueError(f"{n_available} frames available, {k} needed")
    return np.round(np.linspace(0, n_available - 1, k)).astype(np.int64)


def sample_clip(frames: np.ndarray, frame_range, where: str, k: int = TARGET_FRAMES) -> np.ndarray:
    """The k frames of a clip sampled uniformly from frames[first:stop]; DataError if too short."""
    first, stop = int(frame_range[0]), int(frame_range[1])
    if stop > len(frames):
        raise DataError(f"{where}: video has {len(frames)} frames, the clip needs frames {first}..{stop - 1}")
    if stop - first < k:
        raise DataError(f"{where}: the clip spans {max(0, stop - first)} video frames, {k} needed")
    return frames[first + uniform_indices(stop - first, k)]
