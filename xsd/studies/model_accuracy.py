"""How good the two models are: key-fact accuracy per question type on the test split.

Each model answers (greedy) the test questions its own modality can answer — the draft those
with "event" in `answerable_by`, the target those with "video" — and every answer is graded
with the world's `qa.grade` against the sample's key facts (all must be stated correctly).
"""
from __future__ import annotations

import time
from collections import defaultdict

import torch

from xsd.cache import cached_json
from xsd.config import SIDES, Profile, load_profile
from xsd.locations import Locations
from xsd.processes import run_in_processes

MODALITY = {"draft": "event", "target": "video"}
MAX_NEW_TOKENS = 64  # the longest reference answers (descriptions of four road users) are ~63 tokens
EXAMPLES_PER_TYPE = 2


def gradable(samples, side: str, limit: int | None = None) -> list:
    """The samples `side` can answer from its own view, at most `limit` per question type."""
    taken: dict[str, int] = defaultdict(int)
    chosen = []
    for sample in samples:
        if MODALITY[side] not in sample.answerable_by or not sample.key_facts:
            continue
        if limit is not None and taken[sample.qtype] >= limit:
            continue
        taken[sample.qtype] += 1
        chosen.append(sample)
    return chosen


ASKED_IN_VIEW = ("absent", "one", "several")  # how many road users of the asked class the side's view holds


def asked_in_view(sample, side: str) -> str | None:
    """For a question naming a class, how many road users of that class the side's view of the clip
    holds (one of ASKED_IN_VIEW); None for other questions and for clips without truth."""
    from xsd.models.mini_sides import SPECS
    from xsd.world.qa import view

    asked = sample.key_facts.get("class")
    if asked is None or not sample.truth:
        return None
    count = sum(agent["class"] == asked for agent in view(sample.truth, SPECS[side].view)["agents"])
    return ASKED_IN_VIEW[min(count, 2)]


def classes_in_view(sample, side: str) -> list[str] | None:
    """For a describe question, the classes of the road users in the side's view, nearest lane
    first (the order a description names them in); None for other questions and without truth."""
    from xsd.models.mini_sides import SPECS
    from xsd.world.qa import view

    if sample.qtype != "describe" or not sample.truth:
        return None
    return [a["class"] for a in sorted(view(sample.truth, SPECS[side].view)["agents"], key=lambda a: a["lane"])]


def naming_in_order(records: list[dict]) -> list[dict]:
    """Of the descriptions (records with "in_view"), per road user k (1: the nearest in view), the
    share whose k-th named class is that road user's class, and over how many descriptions whose
    view holds a k-th road user: whether a model reads the visual tokens road user by road user,
    apart from how it phrases the rest."""
    from xsd.world.qa import classes_named

    hits: dict[int, list[bool]] = defaultdict(list)
    for record in records:
        named = classes_named(record["answer"])
        for k, cls in enumerate(record.get("in_view") or []):
            hits[k + 1].append(k < len(named) and named[k] == cls)
    return [{"road_user": k, "named": sum(h) / len(h), "n": len(h)} for k, h in sorted(hits.items())]


def grade_answers(records: list[dict]) -> dict:
    """records: {"qtype", "answer", "key_facts"} each, and "asked_in_view" for a question naming a
    class → accuracy per question type, the mean over all graded answers, the mean over question
    types, and the class questions' accuracy by how many road users of the asked class are in view."""
    from xsd.world.qa import grade

    hits: dict[str, list[bool]] = defaultdict(list)
    by_asked: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        hit = grade(record["answer"], record["key_facts"])
        hits[record["qtype"]].append(hit)
        if record.get("asked_in_view"):
            by_asked[record["asked_in_view"]].append(hit)
    per_type = {q: {"accuracy": sum(h) / len(h), "n": len(h)} for q, h in sorted(hits.items())}
    every = [hit for h in hits.values() for hit in h]
    return {
        "per_qtype": per_type,
        "by_asked_in_view": {k: {"accuracy": sum(by_asked[k]) / len(by_asked[k]), "n": len(by_asked[k])}
                             for k in ASKED_IN_VIEW if by_asked[k]},
        "mean": sum(every) / len(every) if every else float("nan"),
        "mean_over_types": (sum(v["accuracy"] for v in per_type.values()) / len(per_type)
                            if per_type else float("nan")),
        "n": len(every),
    }


def evaluate_side(profile_ref: str, side: str, limit: int | None = None, threads: int = 1,
                  device: str | None = None) -> dict:
    """Generate and grade one model's answers on the test split, on `device` (None: the profile's)."""
    from xsd.models.generate import answers
    from xsd.models.registry import built_world, load_models
    from xsd.world.dataset import WorldDataset

    torch.set_num_threads(threads)
    profile = load_profile(profile_ref)
    pair = load_models(profile, device=device)
    dataset = WorldDataset(built_world(profile), "test", event_frames=profile.models.event_frames)
    started = time.perf_counter()
    chosen = gradable(dataset.samples, side, limit)
    said = answers(pair, side, (pair.sample_inputs(side, dataset, s) for s in chosen), MAX_NEW_TOKENS)
    records = [{"id": s.id, "qtype": s.qtype, "key_facts": s.key_facts, "asked_in_view": asked_in_view(s, side),
                "in_view": classes_in_view(s, side), "answer": answer}
               for s, answer in zip(chosen, said)]
    result = grade_answers(records)
    result["describe_order"] = naming_in_order(records)
    result["seconds"] = time.perf_counter() - started
    result["examples"] = examples(records)
    return result


def examples(records: list[dict]) -> list[dict]:
    from xsd.world.qa import grade

    shown: dict[str, int] = defaultdict(int)
    out = []
    for record in records:
        if shown[record["qtype"]] < EXAMPLES_PER_TYPE:
            shown[record["qtype"]] += 1
            shown_fields = {k: v for k, v in record.items() if k != "in_view"}
            out.append({**shown_fields, "correct": grade(record["answer"], record["key_facts"])})
    return out


def evaluate_profile(profile: Profile, limit: int | None = None, jobs: int = 2,
                     use_cache: bool = True, device: str | None = None) -> dict:
    """Both models' accuracy on the test split (one process per model); cached as
    eval_limit<limit>.json beside the checkpoint."""
    from xsd.models.registry import trained_checkpoint

    directory = trained_checkpoint(profile) if profile.models.trained_here else Locations(profile).checkpoint

    def compute() -> dict:
        tasks = [(str(profile.source or profile.name), side, limit, 1, device) for side in SIDES]
        results = run_in_processes(evaluate_side, tasks, jobs)
        return {"profile": profile.name, "split": "test", "limit_per_type": limit,
                "grading": "all key facts of the sample stated correctly (xsd.world.qa.grade)",
                **dict(zip(SIDES, results))}

    return cached_json(directory / f"eval_limit{limit or 'all'}.json", compute, refresh=not use_cache,
                       valid=is_current)


def has_asked_in_view(result: dict) -> bool:
    """False for a result cached before the class questions were split by the asked class in view."""
    return all("by_asked_in_view" in result[side] for side in SIDES)


def is_current(result: dict) -> bool:
    """False for a result cached before the class questions were split by the asked class in view,
    or before the descriptions were scored road user by road user."""
    return has_asked_in_view(result) and all("describe_order" in result[side] for side in SIDES)
