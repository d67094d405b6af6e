"""Whether a model knows a fact it need not phrase: a teacher-forced choice among alternatives.

Generation grades a whole answer, so a wrong class named early ("the truck appears grey" for a
question about a car) fails it whatever the model read off the visual tokens. Here the model is
shown its own reference answer with the fact slot filled by every possible value in turn ("The
car is red.", "The car is blue.", ...); its choice is the value whose answer it finds likeliest.

Compared between the train and the test split this tells reading from remembering: a model that
learnt to read the visual tokens chooses as well on clips it never saw as on its training clips;
one that memorised its training clips chooses better on those.
"""
from __future__ import annotations

import torch

from xsd.studies.model_accuracy import MODALITY as VIEW  # the view whose facts and answer style a side has
from xsd.world.qa import MOTION, POSITION
from xsd.world.scene import COLOURS


def alternatives(side: str) -> dict[str, dict[str, str]]:
    """Per question type, each fact value and the phrase that states it in the side's answer style."""
    out = {"position": dict(POSITION), "direction": dict(MOTION[VIEW[side]])}
    if side == "target":  # events carry no colour
        out["colour"] = {colour: colour for colour in COLOURS}
    return out


def choosable(sample, side: str) -> bool:
    """The side's view states the fact and its reference answer carries the fact's phrase once."""
    phrases = alternatives(side).get(sample.qtype)
    value = getattr(sample, f"facts_{VIEW[side]}").get(sample.qtype)
    if phrases is None or value is None:
        return False
    return getattr(sample, f"answer_{VIEW[side]}").count(phrases[value]) == 1


@torch.no_grad()
def answer_log_likelihoods(pair, side: str, inputs: dict, answers: list[str]) -> list[float]:
    """log p(answer + EOS | prompt) of each answer under the side's model; `inputs` are the prompt's
    model inputs. The prompt is read once and its KV cache serves every answer, so the visual tokens
    cost one pass however many answers there are."""
    from xsd.models.train import answer_ids

    model, tokenizer = pair.model(side), pair.tokenizer(side)
    prompt = model(**inputs, use_cache=True)
    said = [torch.tensor(answer_ids(tokenizer, answer), device=model.device) for answer in answers]
    ids = torch.nn.utils.rnn.pad_sequence(said, batch_first=True, padding_value=0)
    mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(row) for row in said], batch_first=True)
    cache = prompt.past_key_values
    cache.batch_repeat_interleave(len(answers))
    seen = torch.ones(len(answers), inputs["input_ids"].shape[1], dtype=mask.dtype, device=mask.device)
    logits = model(input_ids=ids, attention_mask=torch.cat([seen, mask], dim=1), past_key_values=cache).logits
    # the prompt's last logits predict each answer's first token, the answer's own the rest
    logits = torch.cat([prompt.logits[:, -1:].expand(len(answers), -1, -1), logits[:, :-1]], dim=1)
    log_probs = torch.log_softmax(logits.float(), dim=-1).gather(2, ids[:, :, None])[:, :, 0]
    return [float(row[:len(tokens)].sum()) for row, tokens in zip(log_probs, said)]


def choose(pair, side: str, dataset, sample) -> str:
    """The fact value whose filled-in reference answer the model finds likeliest."""
    phrases = alternatives(side)[sample.qtype]
    reference = getattr(sample, f"answer_{VIEW[side]}")
    stated = phrases[getattr(sample, f"facts_{VIEW[side]}")[sample.qtype]]
    inputs = pair.sample_inputs(side, dataset, sample)
    filled = [reference.replace(stated, phrase) for phrase in phrases.values()]
    scores = dict(zip(phrases, answer_log_likelihoods(pair, side, inputs, filled)))
    return max(scores, key=scores.get)


def choice_accuracy(pair, side: str, dataset, limit: int | None = None) -> dict[str, dict]:
    """Per question type: the fraction of choosable samples (at most `limit` per type) where the
    model chooses the fact its view shows, n, and chance (one over the number of values)."""
    hits: dict[str, list[bool]] = {}
    for sample in dataset.samples:
        if not choosable(sample, side) or (limit is not None and len(hits.get(sample.qtype, [])) >= limit):
            continue
        truth = getattr(sample, f"facts_{VIEW[side]}")[sample.qtype]
        hits.setdefault(sample.qtype, []).append(choose(pair, side, dataset, sample) == truth)
    return {qtype: {"accuracy": sum(h) / len(h), "n": len(h), "chance": 1 / len(alternatives(side)[qtype])}
            for qtype, h in sorted(hits.items())}


def side_choice(profile_ref: str, side: str, limit: int | None = 40, threads: int = 1) -> dict:
    """One model's choice accuracy on the train and the test split: {split: {qtype: ...}}."""
    from xsd.config import load_profile
    from xsd.models.registry import built_world, load_models
    from xsd.world.dataset import WorldDataset

    torch.set_num_threads(threads)
    profile = load_profile(profile_ref)
    pair = load_models(profile)
    return {split: choice_accuracy(pair, side, WorldDataset(built_world(profile), split,
                                                            event_frames=profile.models.event_frames), limit)
            for split in ("train", "test")}


def train_and_test_choice(profile, limit: int | None = 40, jobs: int = 2) -> dict:
    """Both models' choice accuracy on both splits, one process per model:
    {"draft": {"train": {qtype: {accuracy, n, chance}}, "test": ...}, "target": ...}."""
    from xsd.config import SIDES
    from xsd.processes import run_in_processes

    tasks = [(str(profile.source or profile.name), side, limit) for side in SIDES]
    found = run_in_processes(side_choice, tasks, jobs)
    return {"profile": profile.name, "limit_per_type": limit, **dict(zip(SIDES, found))}
