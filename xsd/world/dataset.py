"""Reading a dataset root (mini world or imported data): samples, inputs of both models, texts.

One reader for every source, since all are written in the study's layout (see `layout`).
The draft (event model) reads `event_frames(sample)`: slice 0 of the clip, or all 5 slices;
with slicing="time" from the PNGs on disk (the study's preprocessing), with "count" drawn
from the raw events (EventGPT's equal-event-count slicing). The target (video model) reads
`video_frames(sample)`: 8 frames sampled uniformly from the clip's part of the sequence mp4.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
import numpy as np

from xsd.world.frames import SLICINGS, event_frames
from xsd.world.layout import N_SLICES, DataError, Layout, read_events, read_json, read_png
from xsd.world.video import read_mp4, sample_clip

SPLITS = ("train", "test", "all")


@dataclass
class Sample:
    id: str                 # f"{seq}/{clip}/q{k}"
    seq: str
    clip: str
    question: str
    qtype: str              # one of qa.QTYPES, or "open" for imported data
    answer_event: str       # reference answer, event-model style (from the event view)
    answer_video: str       # reference answer, video-model style (from the video view)
    key_facts: dict         # the true facts, e.g. {"class": "car", "count": 2}; grade with qa.grade
    answerable_by: tuple    # modalities whose view gives key_facts: subset of ("event", "video")
    truth: dict             # the clip's ground truth ({} for imported data)
    facts_event: dict = field(default_factory=dict)   # facts answer_event states (None = cannot tell)
    facts_video: dict = field(default_factory=dict)


class WorldDataset:
    def __init__(self, root, split: str = "train", event_frames: int = 1, slicing: str = "time",
                 cache_videos: int = 4):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        if event_frames not in (1, N_SLICES):
            raise ValueError(f"event_frames must be 1 or {N_SLICES}, not {event_frames}")
        if slicing not in SLICINGS:
            raise ValueError(f"slicing must be one of {SLICINGS}, not {slicing!r}")
        self.layout = Layout(root)
        self.n_event_frames, self.slicing = event_frames, slicing
        self.clips = {_key(c, self.layout.clips, i): c for i, c in enumerate(read_json(self.layout.clips))}
        splits = read_json(self.layout.splits)
        keep = set(self.clips_seqs()) if split == "all" else set(splits.get(split, []))
        self.samples = [self._sample(q, i) for i, q in enumerate(read_json(self.layout.questions))
                        if _key(q, self.layout.questions, i)[0] in keep]
        self._videos: OrderedDict = OrderedDict()
        self._cache_videos = cache_videos

    def _sample(self, q: dict, index: int) -> Sample:
        clip = self.clips.get(_key(q, self.layout.questions, index))
        if clip is None:
            raise DataError(f"{self.layout.questions}: entry {index} names clip {q['seq']}/{q['clip']}, "
                            f"which {self.layout.clips} does not list")
        try:
            return _sample(q, clip)
        except KeyError as error:
            raise DataError(f"{self.layout.questions}: entry {index} has no {error.args[0]!r}; "
                            f"`xsd data check {self.layout.root}` lists every problem") from None

    def clips_seqs(self) -> list[str]:
        return sorted({seq for seq, _ in self.clips})

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]

    def clip(self, sample: Sample) -> dict:
        return self.clips[(sample.seq, sample.clip)]

    def event_frames(self, sample: Sample) -> np.ndarray:
        """The draft's input: uint8 [k, H, W, 3], k = 1 (slice 0) or 5."""
        if self.slicing == "time":
            paths = [self.layout.event_image(sample.seq, sample.clip, k) for k in range(self.n_event_frames)]
            return np.stack([read_png(p) for p in paths])
        clip = self.clip(sample)
        window = (clip["t_start_us"], clip["t_end_us"])
        events = read_events(self.layout.event_npy(sample.seq, sample.clip), window)
        width, height = clip["sensor_size"]
        return event_frames(events, window, width, height, N_SLICES, "count")[: self.n_event_frames]

    def video_frames(self, sample: Sample) -> np.ndarray:
        """The target's input: uint8 [8, H, W, 3] sampled uniformly from the clip."""
        frames = self._video(sample.seq)
        return sample_clip(frames, self.clip(sample)["frame_range"], str(self.layout.mp4(sample.seq)))

    def _video(self, seq: str) -> np.ndarray:
        if seq not in self._videos:
            self._videos[seq] = read_mp4(self.layout.mp4(seq))[0]
            while len(self._videos) > self._cache_videos:
                self._videos.popitem(last=False)
        self._videos.move_to_end(seq)
        return self._videos[seq]


def _key(entry: dict, path, index: int) -> tuple[str, str]:
    """(seq, clip) of a questions or clips entry; a DataError naming the file and entry if absent."""
    try:
        return entry["seq"], entry["clip"]
    except (KeyError, TypeError):
        raise DataError(f"{path}: entry {index} has no seq/clip") from None


def _sample(q: dict, clip: dict) -> Sample:
    return Sample(id=q["id"], seq=q["seq"], clip=q["clip"], question=q["question"], qtype=q["qtype"],
                  answer_event=q["answer_event"], answer_video=q["answer_video"], key_facts=q["key_facts"],
                  answerable_by=tuple(q["answerable_by"]), truth=clip.get("truth", {}),
                  facts_event=q.get("facts_event", {}), facts_video=q.get("facts_video", {}))


def corpus(root, split: str = "all") -> list[str]:
    """Every text of a dataset (questions and both answer styles), e.g. to train a tokenizer."""
    layout = Layout(root)
    keep = None if split == "all" else set(read_json(layout.splits).get(split, []))
    texts = []
    for q in read_json(layout.questions):
        if keep is None or q["seq"] in keep:
            texts.extend(t for t in (q["question"], q["answer_event"], q["answer_video"]) if t)
    return texts


def load_clip(root, seq: str, clip: str, slicing: str = "time") -> dict:
    """One clip for display: its 8 RGB frames, its 5 event frames and its truth (no plotting)."""
    layout = Layout(root)
    record = next((c for c in read_json(layout.clips) if c["seq"] == seq and c["clip"] == clip), None)
    if record is None:
        raise DataError(f"{layout.clips}: no clip {seq}/{clip}")
    window = (record["t_start_us"], record["t_end_us"])
    if slicing == "time":
        events = np.stack([read_png(layout.event_image(seq, clip, k)) for k in range(N_SLICES)])
    else:
        width, height = record["sensor_size"]
        events = event_frames(read_events(layout.event_npy(seq, clip), window), window, width, height,
                              N_SLICES, slicing)
    rgb = sample_clip(read_mp4(layout.mp4(seq))[0], record["frame_range"], str(layout.mp4(seq)))
    return {"rgb": rgb, "events": events, "truth": record.get("truth", {}), "window_us": window}
