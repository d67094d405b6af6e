"""Whether a model reads the question: one clip asked about every road-user class in turn.

Every question of the five class question types names a class ("What colour is the bus?"), and
every reference answer names that class back, whether the class is in view or not ("I do not see
a bus in this video; ..."). So a model that reads the question names the class it was asked
about, and its answers differ from class to class; a model that answers from the clip alone
names the same road user whatever the question asks. The reference answers, computed by the
world's own answer function for the same clips and classes, show what reading looks like.
"""
from __future__ import annotations

import numpy as np
import torch

from xsd.studies.model_accuracy import MODALITY as VIEW  # the view whose answer style a side has
from xsd.world.qa import CLASS_QTYPES, names_class


def following(answers: dict[tuple[str, str], str]) -> dict:
    """{(qtype, class): answer} of one clip → per qtype: how many answers name the asked class,
    and how many distinct answers the classes drew."""
    out = {}
    for qtype in CLASS_QTYPES:
        asked = {cls: text for (q, cls), text in answers.items() if q == qtype}
        out[qtype] = {"named": sum(names_class(text, cls) for cls, text in asked.items()),
                      "distinct": len(set(asked.values())), "asked": len(asked)}
    return out


def summarise(per_clip: list[dict]) -> dict:
    """Per qtype over the clips: the share of answers that name the asked class, and the mean share
    of distinct answers among a clip's classes (1: every class drew its own answer)."""
    out = {}
    for qtype in CLASS_QTYPES:
        rows = [clip[qtype] for clip in per_clip]
        asked = sum(r["asked"] for r in rows)
        out[qtype] = {"names_asked_class": sum(r["named"] for r in rows) / asked,
                      "distinct_answers": float(np.mean([r["distinct"] / r["asked"] for r in rows])),
                      "answers": asked}
    return out


def first_test_clips(dataset, n_clips: int) -> list:
    """One sample (frames + truth) of each of the first `n_clips` test clips."""
    chosen, seen = [], set()
    for sample in dataset.samples:
        if (sample.seq, sample.clip) not in seen:
            seen.add((sample.seq, sample.clip))
            chosen.append(sample)
        if len(chosen) == n_clips:
            break
    return chosen


@torch.no_grad()
def side_following(profile_ref: str, side: str, n_clips: int, threads: int = 1) -> dict:
    """One model's answers to every class question about each of `n_clips` test clips, summarised
    beside the reference answers to the same questions."""
    from xsd.config import load_profile
    from xsd.models.generate import answers
    from xsd.models.registry import built_world, load_models
    from xsd.studies.model_accuracy import MAX_NEW_TOKENS
    from xsd.world.dataset import WorldDataset
    from xsd.world.qa import ask_about
    from xsd.world.scene import CLASSES

    torch.set_num_threads(threads)
    profile = load_profile(profile_ref)
    pair = load_models(profile)
    dataset = WorldDataset(built_world(profile), "test", event_frames=profile.models.event_frames)
    models, references, examples = [], [], []
    for sample in first_test_clips(dataset, n_clips):
        frames = dataset.event_frames(sample) if side == "draft" else dataset.video_frames(sample)
        asked, expected = {}, {}
        for qtype in CLASS_QTYPES:
            for cls in CLASSES:
                asked[qtype, cls], expected[qtype, cls] = ask_about(qtype, cls, sample.truth, VIEW[side],
                                                                    np.random.default_rng(0))
        said = dict(zip(asked, answers(pair, side, (pair.inputs(side, frames, q) for q in asked.values()),
                                       MAX_NEW_TOKENS)))
        models.append(following(said))
        references.append(following(expected))
        if len(examples) < 1:
            examples = [{"clip": f"{sample.seq}/{sample.clip}", "qtype": q, "class": c, "answer": said[q, c]}
                        for q, c in said if q == "colour"]
    return {"model": summarise(models), "reference": summarise(references), "clips": len(models),
            "examples": examples}


def question_following(profile, n_clips: int = 6, jobs: int = 2) -> dict:
    """Both models' question following on the first `n_clips` test clips, one process per model:
    {"draft": {"model": {qtype: ...}, "reference": ..., "clips", "examples"}, "target": ...}."""
    from xsd.config import SIDES
    from xsd.processes import run_in_processes

    tasks = [(str(profile.source or profile.name), side, n_clips) for side in SIDES]
    found = run_in_processes(side_following, tasks, jobs)
    return {"profile": profile.name, "clips": n_clips, **dict(zip(SIDES, found))}
