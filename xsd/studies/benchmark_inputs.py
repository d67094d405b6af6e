"""The test samples a decoding benchmark runs on: seeded, of chosen question types if asked, as
the raw inputs every method starts from (event frames, video frames, question)."""
from __future__ import annotations

from xsd.config import Profile


def benchmark_samples(dataset, n: int, seed: int, qtypes: tuple[str, ...] = ()) -> list:
    """n seeded samples of the split; of the question types `qtypes` only, when given."""
    from xsd.extract import chosen_samples

    if not qtypes:
        return chosen_samples(dataset, n, seed)
    present = {s.qtype for s in dataset.samples}
    unknown = sorted(set(qtypes) - present)
    if unknown:
        raise ValueError(f"no test samples of question type {', '.join(unknown)}; the split has {', '.join(sorted(present))}")
    return chosen_samples([s for s in dataset.samples if s.qtype in qtypes], n, seed)


def test_inputs(profile: Profile, n: int, seed: int, qtypes: tuple[str, ...] = (), progress: bool = True):
    """(samples, [(id, event frames, video frames, question)]) of n seeded test samples, the world
    built first if needed."""
    from xsd.pipeline import ensure_world
    from xsd.world.dataset import WorldDataset

    dataset = WorldDataset(ensure_world(profile, progress), "test", event_frames=profile.models.event_frames)
    samples = benchmark_samples(dataset, n, seed, qtypes)
    return samples, [(s.id, dataset.event_frames(s), dataset.video_frames(s), s.question) for s in samples]
