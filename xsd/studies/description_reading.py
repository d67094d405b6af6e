"""Whether the shared base LLM reads its context: each test question asked of it with the clip's
true description, in the words of the side's own view, where the visual tokens would go — the
text it was pretrained on (xsd.models.mini_base), with no vision at all.

Both VLMs' LLMs start stage C from this model. Told the scene in words, it needs only to pick the
asked fact out of its context and say it; a model that cannot do that from words is not expected
to do it from visual tokens either. Its key-fact accuracy beside each VLM's therefore tells the
LLM's limit apart from the towers' and projectors': a VLM near or above it is held back by its
language model, one far below it by what its visual tokens carry.
"""
from __future__ import annotations

import time

import torch

from xsd.config import SIDES, load_profile
from xsd.studies.model_accuracy import MAX_NEW_TOKENS, asked_in_view, examples, gradable, grade_answers


def prompt_ids(tokenizer, side: str, question: str, description: str) -> list[int]:
    """The side's prompt with `description` in its visual placeholder's place, cueing the answer."""
    from xsd.models import mini_base
    from xsd.models.mini_sides import SPECS

    style = SPECS[side].view
    return (mini_base.description_prefix(tokenizer, style, question, description)
            + mini_base.asked_ids(tokenizer, style, question))


def sample_description(side: str, sample) -> str:
    """What the side's sensor sees in the sample's clip, in the base LLM's description words."""
    from xsd.models.mini_sides import SPECS
    from xsd.models.mini_tuning import caption

    return caption(sample.truth, SPECS[side])


def load_base_llm(profile):
    """The profile's trained base LLM (eval mode) and its tokenizer, trained with the pair or alone
    (`xsd models base`); ModelsNotTrained when it is not finished."""
    from xsd.locations import Locations
    from xsd.models import mini_base
    from xsd.models.registry import ModelsNotTrained

    directory = Locations(profile).checkpoint
    if not mini_base.is_trained(directory):
        raise ModelsNotTrained(f"the {profile.name} base LLM is not trained yet (nothing finished in "
                               f"{directory / mini_base.FOLDER}); run `xsd models base --profile {profile.name}`")
    model, tokenizer = mini_base.new_base_llm(profile, directory)
    model.load_state_dict(mini_base.base_weights(directory))
    return model.eval(), tokenizer


def evaluate_side(profile_ref: str, side: str, limit: int | None = None, threads: int = 1) -> dict:
    """The base LLM's key-fact accuracy on the test questions `side` can answer from its view, each
    asked with the clip's description in that view's words (grade_answers' fields + examples)."""
    from xsd.models.generate import text_answers
    from xsd.models.registry import built_world
    from xsd.world.dataset import WorldDataset

    torch.set_num_threads(threads)
    profile = load_profile(profile_ref)
    model, tokenizer = load_base_llm(profile)
    dataset = WorldDataset(built_world(profile), "test")
    started = time.perf_counter()
    chosen = gradable(dataset.samples, side, limit)
    prompts = (prompt_ids(tokenizer, side, s.question, sample_description(side, s)) for s in chosen)
    records = [{"id": s.id, "qtype": s.qtype, "key_facts": s.key_facts, "asked_in_view": asked_in_view(s, side),
                "answer": answer} for s, answer in zip(chosen, text_answers(model, tokenizer, prompts, MAX_NEW_TOKENS))]
    result = grade_answers(records)
    result["seconds"] = time.perf_counter() - started
    result["examples"] = examples(records)
    return result


def description_reading(profile, limit: int | None = None, jobs: int = 2) -> dict:
    """Both sides' questions answered by the base LLM from descriptions, one process per side."""
    from xsd.models import mini_base
    from xsd.processes import run_in_processes

    if not mini_base.enabled(profile):
        raise ValueError(f"profile {profile.name!r} trains no shared base LLM (base_steps: 0): "
                         "there is no text-only model to ask")
    tasks = [(str(profile.source or profile.name), side, limit) for side in SIDES]
    return {"profile": profile.name, "limit": limit, **dict(zip(SIDES, run_in_processes(evaluate_side, tasks, jobs)))}
