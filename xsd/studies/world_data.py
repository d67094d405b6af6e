"""The world the two models read, as the world-and-models study shows it: its size, one clip of each
lighting, how many events the clips and their agents produce, and example questions.

Every function takes the profile and builds its world first if needed (`xsd.pipeline.ensure_world`);
the numbers come from `xsd.world.summary` and `xsd.world.dataset`.
"""
from __future__ import annotations

import pandas as pd

from xsd import readings
from xsd.config import Profile

EXAMPLE_QTYPES = ("count", "direction", "colour", "lighting", "describe")
NOISE_MOSTLY = 0.5  # a share of noise events above this reads "most of the night's events are noise"


def world_root(profile: Profile):
    """The profile's world folder, built first if needed (quietly)."""
    from xsd.pipeline import ensure_world

    return ensure_world(profile, progress=False)


def world_overview(profile: Profile) -> dict:
    """Sequences and samples per split, the share of test samples both modalities can answer, and
    the size on disk (MB, one decimal) of each part of the world's layout and in total."""
    from xsd.world.dataset import WorldDataset
    from xsd.world.summary import size_on_disk

    root = world_root(profile)
    train, test = WorldDataset(root, "train"), WorldDataset(root, "test")
    both = sum(set(s.answerable_by) == {"event", "video"} for s in test.samples)
    return {"profile": profile.name, "sequences": len(train.clips_seqs()), "samples": len(train) + len(test),
            "train": len(train), "test": len(test), "both_modalities_share": both / len(test),
            "size_mb": {part: round(size / 1e6, 1) for part, size in size_on_disk(root).items()}}


def example_clip(profile: Profile, lighting: str) -> dict:
    """The first clip of the given lighting: its RGB frames, its event frames and a title naming the
    clip, its lighting and its agents (colour, class, direction)."""
    from xsd.world.dataset import load_clip
    from xsd.world.summary import find_clips

    root = world_root(profile)
    seq, clip = find_clips(root, lighting=lighting)[0]
    data = load_clip(root, seq, clip)
    agents = ", ".join(f"{a['colour']} {a['class']} ({a['direction']})" for a in data["truth"].get("agents", []))
    return {"seq": seq, "clip": clip, "rgb": data["rgb"], "events": data["events"],
            "title": f"{seq}/{clip}: {data['truth'].get('lighting')}; {agents or 'no agents'}"}


def event_rates(profile: Profile) -> pd.DataFrame:
    """Per lighting (rows): clips, mean / median / min / max events per second, mean share of noise."""
    from xsd.world.summary import event_rates_by_lighting

    return pd.DataFrame(event_rates_by_lighting(world_root(profile))).T


def event_rate_reading(rates: pd.DataFrame) -> str:
    """Night against day: events per second (a ratio in words) and the share of noise, with "most of
    the night's events are noise" above NOISE_MOSTLY; "" when the world lacks day or night clips."""
    if not {"day", "night"} <= set(rates.index):
        return ""
    day, night = rates.loc["day"], rates.loc["night"]
    many = readings.ratio_phrase(night["mean"], day["mean"], size="many", more="more", less="fewer")
    text = f"Night clips carry {night['mean']:.0f} events per second against {day['mean']:.0f} by day ({many})"
    if pd.notna(night["noise_share"]) and pd.notna(day["noise_share"]):
        text += (f"; noise makes {night['noise_share']:.0%} of a night clip's events and {day['noise_share']:.0%} "
                 f"of a day clip's" + (": most of the night's events are noise"
                                       if night["noise_share"] > NOISE_MOSTLY else ""))
    return text + "."


def events_by_class(profile: Profile) -> pd.DataFrame:
    """Per agent class: mean events in a clip and in its first slice (whole numbers), and the share of
    agents the event view shows (two decimals)."""
    from xsd.world.summary import events_per_agent

    agents = pd.DataFrame(events_per_agent(world_root(profile)))
    per_class = agents.groupby("class")[["events", "events_slice0"]].mean().round(0)
    per_class["share visible to events"] = agents.groupby("class")["event_visible"].mean().round(2)
    return per_class


def example_questions(profile: Profile, qtypes=EXAMPLE_QTYPES) -> pd.DataFrame:
    """The first test question of each type with both reference answers."""
    from xsd.world.dataset import WorldDataset

    test = WorldDataset(world_root(profile), "test")
    rows = []
    for qtype in qtypes:
        sample = next(s for s in test.samples if s.qtype == qtype)
        rows.append({"type": qtype, "question": sample.question, "event-model answer": sample.answer_event,
                     "video-model answer": sample.answer_video})
    return pd.DataFrame(rows)
