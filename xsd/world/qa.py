"""Questions about a clip and reference answers in two styles, from the scene truth.

Each modality answers from what it can observe (its *view* of the clip):
  event  — agents that produced events during the draft's slice (slice 0, equal time);
           no colour, no lighting; positions during that slice.
  video  — agents whose contrast in the 8-bit frames clears the noise (all by day and
           dusk, few at night, where vehicles show mostly by their lights); colour by day
           and dusk only; positions at the middle of the clip.
The truth view sees everything. For every question, `facts` are what an answer states:
`key_facts` from the truth, `facts_event` / `facts_video` from each view (None = "cannot
tell"); `answerable_by` names the modalities whose view gives the true facts.

Two answer styles with paraphrase variety, as two separately instruction-tuned models
would phrase things: the event style is terse and speaks of "the event stream"; the video
style is wordier and speaks of "the video". `grade` reads the facts back out of any
answer, so model outputs are scored against `key_facts` (or a view's facts) the same way.

One module, a little over 300 lines: the phrasing of an answer and the grading that reads it
back must change together.
"""
from __future__ import annotations

import re

import numpy as np

from xsd.world.scene import CLASSES, COLOURS, position_word

QTYPES = ("describe", "objects", "count", "count_class", "presence",
          "direction", "colour", "position", "lighting", "ego_motion")
STYLES = ("event", "video")
NUMBER = ("no", "one", "two", "three", "four", "five", "six")
PLURAL = {"car": "cars", "truck": "trucks", "bus": "buses", "pedestrian": "pedestrians",
          "cyclist": "cyclists"}
UNKNOWN = "cannot tell"

QUESTIONS = {
    "describe": ["Describe the scene.", "What is happening in this scene?", "Give a short description of the scene."],
    "objects": ["What objects are in the scene?", "Which road users can you see?", "What is on the road?"],
    "count": ["How many road users are there?", "How many objects are in the scene?", "Count the road users."],
    "count_class": ["How many {plural} are there?", "How many {plural} can you see?"],
    "presence": ["Is there a {cls} in the scene?", "Can you see a {cls}?"],
    "direction": ["Which way is the {ref} moving?", "In which direction is the {ref} going?"],
    "colour": ["What colour is the {ref}?", "What is the colour of the {ref}?"],
    "position": ["Where is the {ref}?", "Where in the image is the {ref}?"],
    "lighting": ["Is it day or night?", "What are the lighting conditions?"],
    "ego_motion": ["Is the camera moving?", "Is the ego vehicle moving or standing still?"],
}
GENERIC_QUESTIONS = [QUESTIONS[q][0] for q in ("describe", "objects", "count", "lighting", "ego_motion")] + [
    "Are any road users moving?", "What is in front of the camera?", "Is the road busy?",
    "What kind of road is this?", "Is there anything unusual in the scene?"]

MOTION = {
    "event": {"left": "moving left", "right": "moving right", "towards": "coming towards the camera",
              "away": "moving away", "stopped": "standing still"},
    "video": {"left": "driving to the left", "right": "driving to the right",
              "towards": "approaching the camera", "away": "driving away from the camera",
              "stopped": "stopped and not moving"},
}
POSITION = {"left": "on the left", "centre": "in the centre", "right": "on the right"}
ANSWERS = {
    "event": {
        "objects": ["The event stream shows {list}.", "Events reveal {list}.", "{List} in the event data."],
        "count": ["The event stream shows {n} road {users}.", "{N} road {users} in the events.",
                  "I count {n} road {users} in the event data."],
        "count_class": ["The event stream shows {n} {noun}.", "{N} {noun} in the events."],
        "present": ["Yes, the event stream shows a {cls}.", "Yes, there is a {cls} in the events."],
        "absent": ["No, there is no {cls} in the event stream.", "No, the events show no {cls}."],
        "direction": ["The {ref} is {motion}.", "In the events, the {ref} is {motion}."],
        "colour_unknown": ["Events carry no colour, so I cannot tell what colour the {ref} is.",
                           "I cannot tell the colour of the {ref}; the event stream has no colour."],
        "position": ["The {ref} is {where}.", "In the event stream the {ref} is {where}."],
        "lighting_unknown": ["I cannot tell the lighting from events.", "The event stream cannot tell day from night."],
        "ego": {"forward": ["The camera is moving forward.", "Yes, the ego vehicle moves forward."],
                "stationary": ["The camera is stationary.", "No, the camera is not moving."]},
        "missing": ["I see no {cls} in the event stream.", "There is no {cls} in the events."],
        "describe": ["The event stream shows {list}.", "Events show {list}."],
    },
    "video": {
        "objects": ["In the video, I can see {list}.", "The video shows {list} on the road.",
                    "I can see {list} in the video."],
        "count": ["There {are} {n} road {users} in the video.", "The video shows {n} road {users} in total.",
                  "I can see {n} road {users} in this video."],
        "count_class": ["There {are} {n} {noun} in the video.", "The video shows {n} {noun}."],
        "present": ["Yes, there is a {cls} in the video.", "Yes, a {cls} can be seen in the video."],
        "absent": ["No, there is no {cls} in the video.", "No, I do not see a {cls} in this video."],
        "direction": ["In the video, the {ref} is {motion}.", "The {ref} is {motion} in this video."],
        "colour": ["The {ref} is {colour}.", "In the video, the {ref} appears {colour}."],
        "colour_unknown": ["It is too dark to see the colour of the {ref}, so I cannot tell.",
                           "I cannot tell the colour of the {ref} in this dark video."],
        "position": ["In the video, the {ref} is {where} of the frame.", "The {ref} can be seen {where}."],
        "lighting": {"day": ["It is daytime, the scene is brightly lit.", "The video was taken during the day."],
                     "dusk": ["It is dusk, the light is fading.", "The video was taken at dusk."],
                     "night": ["It is night, the scene is dark.", "The video was taken at night."]},
        "ego": {"forward": ["The camera is moving forward along the road.", "Yes, the ego vehicle is driving forward."],
                "stationary": ["The camera is stationary.", "No, the ego vehicle is standing still."]},
        "missing": ["I do not see a {cls} in this video.", "There is no {cls} in the video."],
        "describe": ["The video shows a {lighting} scene with {list}.", "In this {lighting} video, I can see {list}."],
    },
}
LIGHTING_WORD = {"day": "daytime", "dusk": "dusk", "night": "night-time"}


# -- views: what each modality observes -----------------------------------------------------------

def view(truth: dict, modality: str) -> dict:
    """Agents (nearest lane first) and global attributes that a modality observes in a clip."""
    if modality == "truth":
        agents = [dict(a, seen_colour=a["colour"], x=a["x_mid"]) for a in truth["agents"]]
        return {"agents": agents, "lighting": truth["lighting"], "ego_motion": truth["ego_motion"]}
    if modality == "event":
        agents = [dict(a, seen_colour=None, x=a["x_event"]) for a in truth["agents"] if a["event_visible"]]
        return {"agents": agents, "lighting": None, "ego_motion": truth["ego_motion"]}
    if modality == "video":
        colour = truth["lighting"] != "night"
        agents = [dict(a, seen_colour=a["colour"] if colour else None, x=a["x_mid"])
                  for a in truth["agents"] if a["rgb_visible"]]
        return {"agents": agents, "lighting": truth["lighting"], "ego_motion": truth["ego_motion"]}
    raise ValueError(f"unknown modality {modality!r}")


def facts(qtype: str, v: dict, cls: str | None = None) -> dict:
    agents = sorted(v["agents"], key=lambda a: a["lane"])
    of_class = [a for a in agents if a["class"] == cls]
    if qtype in ("describe", "objects"):
        return {"classes": sorted({a["class"] for a in agents})}
    if qtype == "count":
        return {"count": len(agents)}
    if qtype == "count_class":
        return {"class": cls, "count": len(of_class)}
    if qtype == "presence":
        return {"class": cls, "present": bool(of_class)}
    if qtype in ("direction", "colour", "position"):
        if not of_class:
            return {"class": cls, "present": False}
        nearest = of_class[0]
        value = {"direction": nearest["direction"], "colour": nearest["seen_colour"],
                 "position": position_word(nearest["x"])}[qtype]
        return {"class": cls, qtype: value}
    if qtype == "lighting":
        return {"lighting": v["lighting"]}
    if qtype == "ego_motion":
        return {"ego_motion": v["ego_motion"]}
    raise ValueError(f"unknown question type {qtype!r}")


# -- questions and answers -------------------------------------------------------------------------

def make_questions(truth: dict, rng: np.random.Generator) -> list[dict]:
    """The 10 questions of a clip, with facts per view and answers in both styles."""
    views = {m: view(truth, m) for m in ("truth", "event", "video")}
    out = []
    for qtype in QTYPES:
        question, cls, ref = ask(qtype, truth, rng)
        key = facts(qtype, views["truth"], cls)
        per_view = {m: facts(qtype, views[m], cls) for m in STYLES}
        out.append({
            "qtype": qtype, "question": question, "key_facts": key,
            "facts_event": per_view["event"], "facts_video": per_view["video"],
            "answer_event": answer(qtype, per_view["event"], "event", rng, views["event"], ref),
            "answer_video": answer(qtype, per_view["video"], "video", rng, views["video"], ref),
            "answerable_by": [m for m in STYLES if per_view[m] == key],
        })
    return out


def view_questions(truth: dict, style: str, rng: np.random.Generator) -> list[dict]:
    """The 10 questions of a clip answered from one modality's view only, in its style: for
    generator scenes rendered for one sensor, whose truth lacks the other sensor's fields."""
    v = view(truth, style)
    out = []
    for qtype in QTYPES:
        question, cls, ref = ask(qtype, truth, rng)
        stated = facts(qtype, v, cls)
        out.append({"qtype": qtype, "question": question, "facts": stated,
                    "answer": answer(qtype, stated, style, rng, v, ref)})
    return out


def ask(qtype: str, truth: dict, rng) -> tuple[str, str | None, str | None]:
    """(question, the class it names, how it refers to that class) for one question type."""
    present = sorted({a["class"] for a in truth["agents"]})
    cls = _pick_class(rng, present) if qtype in ("count_class", "presence", "direction",
                                                 "colour", "position") else None
    n_of_class = sum(a["class"] == cls for a in truth["agents"])
    ref = f"nearest {cls}" if n_of_class > 1 else cls
    return _choice(rng, QUESTIONS[qtype]).format(cls=cls, plural=PLURAL.get(cls, ""), ref=ref), cls, ref


def answer(qtype: str, f: dict, style: str, rng, v: dict, ref: str | None = None) -> str:
    """A reference answer stating facts f in the given style."""
    t = ANSWERS[style]
    if qtype in ("describe", "objects"):
        listing = agent_list(v["agents"], style, with_motion=qtype == "describe")
        lighting = LIGHTING_WORD.get(v["lighting"] or "", "")
        text = _choice(rng, t[qtype]).format(list=listing, List=listing[0].upper() + listing[1:],
                                             lighting=lighting)
        if qtype == "describe" and v["ego_motion"] == "forward":
            text += " The camera is moving forward."
        return text
    if qtype in ("count", "count_class"):
        n = f["count"]
        noun = PLURAL[f["class"]] if qtype == "count_class" and n != 1 else f.get("class")
        word = number_word(n)
        return _choice(rng, t[qtype]).format(n=word, N=word.capitalize(), noun=noun,
                                             users="user" if n == 1 else "users", are="is" if n == 1 else "are")
    if qtype == "presence":
        return _choice(rng, t["present" if f["present"] else "absent"]).format(cls=f["class"])
    if qtype in ("direction", "colour", "position"):
        if f.get("present") is False:
            return _choice(rng, t["missing"]).format(cls=f["class"])
        if qtype == "direction":
            return _choice(rng, t["direction"]).format(ref=ref, motion=MOTION[style][f["direction"]])
        if qtype == "colour":
            if f["colour"] is None:
                return _choice(rng, t["colour_unknown"]).format(ref=ref)
            return _choice(rng, t["colour"]).format(ref=ref, colour=f["colour"])
        return _choice(rng, t["position"]).format(ref=ref, where=POSITION[f["position"]])
    if qtype == "lighting":
        if f["lighting"] is None:
            return _choice(rng, t["lighting_unknown"])
        return _choice(rng, t["lighting"][f["lighting"]])
    if qtype == "ego_motion":
        return _choice(rng, t["ego"][f["ego_motion"]])
    raise ValueError(f"unknown question type {qtype!r}")


def agent_list(agents: list[dict], style: str, with_motion: bool) -> str:
    """'a red car moving left and two trucks' (no colour where the view has none)."""
    if not agents:
        return "no road users"
    if not with_motion:
        groups: dict[str, list] = {}
        for a in sorted(agents, key=lambda a: a["lane"]):
            groups.setdefault(a["class"], []).append(a)
        phrases = [_noun_phrase(g, style) for g in groups.values()]
    else:
        phrases = [f"{_article(a)} {MOTION[style][a['direction']]}" for a in sorted(agents, key=lambda a: a["lane"])]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _noun_phrase(group: list[dict], style: str) -> str:
    if len(group) == 1:
        return _article(group[0])
    return f"{number_word(len(group))} {PLURAL[group[0]['class']]}"


def _article(agent: dict) -> str:
    words = ([agent["seen_colour"]] if agent.get("seen_colour") else []) + [agent["class"]]
    return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)


def number_word(n: int) -> str:
    return NUMBER[n] if n < len(NUMBER) else str(n)


def generic_questions() -> list[dict]:
    """The question bank for imported data, which has no scene truth (answers left empty)."""
    return [{"qtype": "open", "question": q, "key_facts": {}, "facts_event": {}, "facts_video": {},
             "answer_event": "", "answer_video": "", "answerable_by": []} for q in GENERIC_QUESTIONS]


def _pick_class(rng, present: list[str]) -> str:
    if present and rng.random() < 0.7:
        return str(_choice(rng, present))
    return str(_choice(rng, list(CLASSES)))


def _choice(rng, options):
    return options[int(rng.integers(len(options)))]


# -- grading: read facts back out of an answer -----------------------------------------------------

_WORD = re.compile(r"[a-z0-9\-']+")
_SINGULAR = {**{p: c for c, p in PLURAL.items()}, **{c: c for c in CLASSES}}
_DIRECTION_WORDS = {"left": "left", "right": "right", "towards": "towards", "approaching": "towards",
                    "away": "away", "still": "stopped", "stopped": "stopped", "stationary": "stopped"}
_POSITION_WORDS = {"left": "left", "centre": "centre", "center": "centre", "middle": "centre", "right": "right"}
_ABSENT = ("there is no", "see no", "not see", "shows no", "show no")
_LIGHTING_WORDS = {"day": "day", "daytime": "day", "dusk": "dusk", "night": "night", "night-time": "night"}


def read_facts(text: str, keys) -> dict:
    """The facts an answer states, for the given keys (a key the answer does not state is absent)."""
    words = _WORD.findall(text.lower())
    lower = text.lower()
    unknown = UNKNOWN in lower or "cannot" in words
    out: dict = {}
    for key in keys:
        if key == "classes":
            out[key] = sorted({_SINGULAR[w] for w in words if w in _SINGULAR})
        elif key == "count":
            numbers = [NUMBER.index(w) if w in NUMBER else int(w) for w in words
                       if w in NUMBER or w.isdigit()]
            if numbers:
                out[key] = numbers[0]
        elif key == "class":
            found = [_SINGULAR[w] for w in words if w in _SINGULAR]
            if found:
                out[key] = found[0]
        elif key == "present":
            out[key] = not (words[:1] == ["no"] or any(m in lower for m in _ABSENT))
        elif key in ("colour", "lighting") and unknown:
            out[key] = None
        else:
            table = {"colour": {c: c for c in COLOURS}, "direction": _DIRECTION_WORDS,
                     "position": _POSITION_WORDS, "lighting": _LIGHTING_WORDS,
                     "ego_motion": {"forward": "forward", "stationary": "stationary", "still": "stationary",
                                    "not": "stationary"}}[key]
            found = [table[w] for w in words if w in table]
            if found:
                out[key] = found[-1] if key == "direction" else found[0]
    return out


def grade(text: str, expected: dict) -> bool:
    """True if the answer states every fact in `expected` (e.g. a sample's key_facts)."""
    if not expected:
        return False
    stated = read_facts(text, expected)
    return all(stated.get(k, "<missing>") == v for k, v in expected.items())
