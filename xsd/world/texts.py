"""Scene texts for the mini pair's shared base LLM: the world's scenes as words, nothing rendered.

Both real VLMs grow from one pretrained language model (Vicuna-7B), which knew the language of
their answers before either saw an image. The mini stand-in is a causal LM trained on text about
fresh scenes from the world's own generator (`scene.sample_scene`): per scene a short
description of what a sensor sees, then its questions (`qa.view_questions`) answered in that
sensor's style, for both styles (xsd.models.mini_base trains on them).

No frame is rendered and no event simulated, so nothing tells which agents a sensor would miss:
every agent counts as seen by both sensors (they are all in view for the whole sequence, see
`scene`), and each style's view keeps only what its modality can state at all (no colour and no
lighting for events, no colour at night for video). What the sensors really see is stage C's to
teach.

Disjointness: text scene j is sequence index TEXT_OFFSET + j of the world's seed streams, beyond
every world's sequences and every tower pretraining scene (xsd.world.pretraining), so no text
scene is a train, test or pretraining scene.
"""
from __future__ import annotations

import numpy as np

from xsd.world import clips as C
from xsd.world import scene as S
from xsd.world.build import STREAMS
from xsd.world.config import WorldConfig
from xsd.world.pretraining import PRETRAINING_OFFSET, check_disjoint, sequence_scene
from xsd.world.qa import CLASS_QTYPES, POSITION, QUESTIONS, STYLES, ask_about, view, view_questions

TEXT_OFFSET = 2 * PRETRAINING_OFFSET
MAX_TEXT_SCENES = PRETRAINING_OFFSET   # text scenes stay below the next block of sequence indices
# the description's words are neither answer style's, so that neither style is the base LLM's own
MOTION_WORDS = {"left": "heading left", "right": "heading right", "towards": "heading towards the camera",
                "away": "heading away from the camera", "stopped": "not moving"}


def text_truth(cfg: WorldConfig, seed: int, index: int) -> dict:
    """The truth of text scene `index` (clip `index` mod clips_per_sequence of its sequence), in
    the fields `qa.view` and `qa.facts` read; every agent seen by both sensors."""
    if not 0 <= index < MAX_TEXT_SCENES:
        raise ValueError(f"text scene index must be in [0, {MAX_TEXT_SCENES}), not {index}")
    check_disjoint(cfg)
    scene = sequence_scene(cfg, seed, TEXT_OFFSET + index)
    t0, t1 = C.clip_windows(0, int(round(scene["duration"] * 1e6)))[index % cfg.clips_per_sequence]
    agents = [{**{k: a[k] for k in ("id", "class", "colour", "direction", "lane", "speed")},
               "x_start": S.agent_x(a, t0 / 1e6, cfg.width),
               "x_mid": S.agent_x(a, (t0 + t1) / 2e6, cfg.width),
               "x_event": S.agent_x(a, t0 / 1e6 + 0.1, cfg.width),   # as build.clip_truth
               "event_visible": True, "rgb_visible": True}
              for a in scene["agents"]]
    return {"lighting": scene["lighting"], "ego_motion": scene["ego_motion"],
            "t_start_us": int(t0), "t_end_us": int(t1), "agents": agents}


def describe(v: dict) -> str:
    """What a view holds, in plain words: 'Seen: a red car heading left on the left. Light: day.
    Camera: stationary.' (no colour or light where the view has none)."""
    agents = sorted(v["agents"], key=lambda a: a["lane"])
    seen = [f"{_noun(a)} {MOTION_WORDS[a['direction']]} {POSITION[S.position_word(a['x'])]}" for a in agents]
    text = "Seen: " + ("; ".join(seen) if seen else "no road users") + "."
    if v["lighting"] is not None:
        text += f" Light: {v['lighting']}."
    return text + f" Camera: {'moving forward' if v['ego_motion'] == 'forward' else 'stationary'}."


def _noun(agent: dict) -> str:
    words = " ".join(filter(None, (agent["seen_colour"], agent["class"])))
    return ("an " if words[0] in "aeiou" else "a ") + words


def text_conversations(cfg: WorldConfig, seed: int, index: int, lookups: bool = False,
                       absences: bool = False) -> dict[str, dict]:
    """Per answer style: {"description": what that view sees, "turns": [(question, answer)]}, the
    scene's 10 questions answered from that view in that style (seeded by scene and style); with
    `lookups` one more per road user in the view (`lookup_turns`), with `absences` one more per
    class the view does not show (`absence_turns`)."""
    truth = text_truth(cfg, seed, index)
    out = {}
    for k, style in enumerate(STYLES):
        rng = np.random.default_rng([seed, TEXT_OFFSET + index, STREAMS["questions"], k])
        v = view(truth, style)
        turns = [(q["question"], q["answer"]) for q in view_questions(truth, style, rng)]
        if lookups:
            turns += lookup_turns(truth, v, style, rng)
        if absences:
            turns += absence_turns(truth, v, style, rng)
        out[style] = {"description": describe(v), "turns": turns}
    return out


LOOKUP_QTYPES = ("colour", "position", "direction")


def lookup_turns(truth: dict, v: dict, style: str, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Per road user in the view, nearest first, its colour, place or motion asked by its class and
    answered in the style: the answer is in the description beside the class it names, so these
    turns teach looking an attribute up by its road user rather than saying the first one's."""
    turns = []
    for agent in sorted(v["agents"], key=lambda a: a["lane"]):
        qtype = LOOKUP_QTYPES[int(rng.integers(len(LOOKUP_QTYPES)))]
        template = int(rng.integers(len(QUESTIONS[qtype])))
        turns.append(ask_about(qtype, agent["class"], truth, style, rng, template))
    return turns


def absence_turns(truth: dict, v: dict, style: str, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Per class the view does not show, one class question about it (any of `CLASS_QTYPES`),
    answered in the style: the world's own questions mostly name a class in view, so answering
    as if the class were there is mostly right; these turns make that answer wrong often."""
    shown = {agent["class"] for agent in v["agents"]}
    turns = []
    for cls in (c for c in S.CLASSES if c not in shown):
        qtype = CLASS_QTYPES[int(rng.integers(len(CLASS_QTYPES)))]
        template = int(rng.integers(len(QUESTIONS[qtype])))
        turns.append(ask_about(qtype, cls, truth, style, rng, template))
    return turns
