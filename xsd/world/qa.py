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
        "count": ["The event stream shows {n} road {users}{detail}.", "{N} road {users} in the events{detail}.",
                  "I count {n} road {users} in the event data{detail}."],
        "count_class": ["The event stream shows {n} {noun}{detail}.", "{N} {noun} in the events{detail}."],
        "present": ["Yes, the event stream shows a {cls}: {agent}.", "Yes, there is a {cls} in the events: {agent}."],
        "absent": ["No, there is no {cls} in the event stream; it shows {list}.",
                   "No, the events show no {cls}, only {list}."],
        "direction": ["The {ref} {where} is {motion}.", "In the events, the {ref} {where} is {motion}."],
        "colour_unknown": ["Events carry no colour, so I cannot tell what colour the {ref} {where} is.",
                           "I cannot tell the colour of the {ref} {where}; the event stream has no colour."],
        "position": ["The {ref} is {where}, {motion}.", "In the event stream the {ref} is {where}, {motion}."],
        "lighting_unknown": ["I cannot tell the lighting from events; they show {list}.",
                             "The event stream cannot tell day from night; it shows {list}."],
        "ego": {"forward": ["The camera is moving forward past {list}.", "Yes, the ego vehicle moves forward past {list}."],
                "stationary": ["The camera is stationary, facing {list}.", "No, the camera is not moving; it faces {list}."]},
        "missing": ["I see no {cls} in the event stream; it shows {list}.", "There is no {cls} in the events, only {list}."],
        "describe": ["The event stream shows {list}.", "Events show {list}."],
    },
    "video": {
        "objects": ["In the video, I can see {list}.", "The video shows {list} on the road.",
                    "I can see {list} in the video."],
        "count": ["There {are} {n} road {users} in the video{detail}.", "The video shows {n} road {users} in total{detail}.",
                  "I can see {n} road {users} in this video{detail}."],
        "count_class": ["There {are} {n} {noun} in the video{detail}.", "The video shows {n} {noun}{detail}."],
        "present": ["Yes, there is a {cls} in the video: {agent}.", "Yes, a {cls} can be seen in the video: {agent}."],
        "absent": ["No, there is no {cls} in the video; I can see {list}.",
                   "No, I do not see a {cls} in this video, only {list}."],
        "direction": ["In the video, the {ref} {where} is {motion}.", "The {ref} {where} is {motion} in this video."],
        "colour": ["The {ref} {where} is {colour} and {motion}.", "In the video, the {ref} {where} appears {colour}."],
        "colour_unknown": ["It is too dark to see the colour of the {ref} {where}, so I cannot tell.",
                           "I cannot tell the colour of the {ref} {where} in this dark video."],
        "position": ["In the video, the {ref} is {where} of the frame, {motion}.", "The {ref} can be seen {where}, {motion}."],
        "lighting": {"day": ["It is daytime, the scene is brightly lit; I can see {list}.",
                             "The video was taken during the day and shows {list}."],
                     "dusk": ["It is dusk, the light is fading; I can see {list}.", "The video was taken at dusk and shows {list}."],
                     "night": ["It is night, the scene is dark; I can see {list}.", "The video was taken at night and shows {list}."]},
        "ego": {"forward": ["The camera is moving forward along the road, past {list}.",
                            "Yes, the ego vehicle is driving forward, past {list}."],
                "stationary": ["The camera is stationary, facing {list}.", "No, the ego vehicle is standing still, facing {list}."]},
        "missing": ["I do not see a {cls} in this video; I can see {list}.", "There is no {cls} in the video, only {list}."],
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


CLASS_QTYPES = ("count_class", "presence", "direction", "colour", "position")  # questions that name a class


def ask(qtype: str, truth: dict, rng) -> tuple[str, str | None, str | None]:
    """(question, the class it names, how it refers to that class) for one question type."""
    present = sorted({a["class"] for a in truth["agents"]})
    cls = _pick_class(rng, present) if qtype in CLASS_QTYPES else None
    template, ref = _choice(rng, QUESTIONS[qtype]), reference(cls, truth)
    return template.format(cls=cls, plural=PLURAL.get(cls, ""), ref=ref), cls, ref


def reference(cls: str | None, truth: dict) -> str | None:
    """How a question refers to a class: the nearest one where the clip has several."""
    return f"nearest {cls}" if sum(a["class"] == cls for a in truth["agents"]) > 1 else cls


def ask_about(qtype: str, cls: str, truth: dict, style: str, rng, template: int = 0) -> tuple[str, str]:
    """A class question (one of CLASS_QTYPES) about `cls`, whichever classes the clip shows, and its
    reference answer from the style's view: what `make_questions` asks, with the class chosen."""
    v = view(truth, style)
    ref = reference(cls, truth)
    question = QUESTIONS[qtype][template].format(cls=cls, plural=PLURAL[cls], ref=ref)
    return question, answer(qtype, facts(qtype, v, cls), style, rng, v, ref)


def answer(qtype: str, f: dict, style: str, rng, v: dict, ref: str | None = None) -> str:
    """A reference answer stating facts f in the given style, and around them what the view shows
    of the scene (which road users, in lane order, with their colour, motion and place), so that
    its words depend on the scene and not on the question type alone. The fact each question asks
    comes first in the answer, where `read_facts` looks for it (the last motion word for direction)."""
    t = ANSWERS[style]
    agents = sorted(v["agents"], key=lambda a: a["lane"])
    scene = agent_list(agents, style, motion=True, place=True)
    if qtype in ("describe", "objects"):
        listing = agent_list(agents, style, motion=qtype == "describe", place=True)
        lighting = LIGHTING_WORD.get(v["lighting"] or "", "")
        text = _choice(rng, t[qtype]).format(list=listing, List=listing[0].upper() + listing[1:],
                                             lighting=lighting)
        if qtype == "describe" and v["ego_motion"] == "forward":
            text += " The camera is moving forward."
        return text
    if qtype in ("count", "count_class"):
        n = f["count"]
        counted = [a for a in agents if qtype == "count" or a["class"] == f["class"]]
        detail = (": " + agent_list(counted, style, motion=True, place=True) if counted
                  else ", only " + scene if qtype == "count_class" and agents else "")
        noun = PLURAL[f["class"]] if qtype == "count_class" and n != 1 else f.get("class")
        word = number_word(n)
        return _choice(rng, t[qtype]).format(n=word, N=word.capitalize(), noun=noun, detail=detail,
                                             users="user" if n == 1 else "users", are="is" if n == 1 else "are")
    if qtype == "presence":
        if not f["present"]:
            return _choice(rng, t["absent"]).format(cls=f["class"], list=scene)
        nearest = next(a for a in agents if a["class"] == f["class"])
        return _choice(rng, t["present"]).format(cls=f["class"], agent=_agent_phrase(nearest, style, True, True))
    if qtype in ("direction", "colour", "position"):
        if f.get("present") is False:
            return _choice(rng, t["missing"]).format(cls=f["class"], list=scene)
        nearest = next(a for a in agents if a["class"] == f["class"])
        where, motion = POSITION[position_word(nearest["x"])], MOTION[style][nearest["direction"]]
        if qtype == "direction":
            return _choice(rng, t["direction"]).format(ref=_coloured(ref, nearest), where=where, motion=motion)
        if qtype == "colour":
            if f["colour"] is None:
                return _choice(rng, t["colour_unknown"]).format(ref=ref, where=where)
            return _choice(rng, t["colour"]).format(ref=ref, where=where, colour=f["colour"], motion=motion)
        return _choice(rng, t["position"]).format(ref=_coloured(ref, nearest), where=POSITION[f["position"]],
                                                  motion=motion)
    if qtype == "lighting":
        if f["lighting"] is None:
            return _choice(rng, t["lighting_unknown"]).format(list=scene)
        return _choice(rng, t["lighting"][f["lighting"]]).format(list=scene)
    if qtype == "ego_motion":
        return _choice(rng, t["ego"][f["ego_motion"]]).format(list=scene)
    raise ValueError(f"unknown question type {qtype!r}")


def agent_list(agents: list[dict], style: str, motion: bool, place: bool) -> str:
    """'a red car moving left on the left and a truck standing still in the centre', one phrase
    per agent in lane order (no colour where the view has none; 'no road users' for none)."""
    if not agents:
        return "no road users"
    phrases = [_agent_phrase(a, style, motion, place) for a in sorted(agents, key=lambda a: a["lane"])]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _agent_phrase(agent: dict, style: str, motion: bool, place: bool) -> str:
    words = [_article(agent)]
    if motion:
        words.append(MOTION[style][agent["direction"]])
    if place:
        words.append(POSITION[position_word(agent["x"])])
    return " ".join(words)


def _coloured(ref: str, agent: dict) -> str:
    """'nearest car' → 'nearest red car' where the view sees the agent's colour."""
    colour = agent.get("seen_colour")
    return ref.replace(agent["class"], f"{colour} {agent['class']}") if colour else ref


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


def classes_named(text: str) -> list[str]:
    """The classes an answer names, in the order it names them (singular; repeats kept)."""
    return [_SINGULAR[word] for word in _WORD.findall(text.lower()) if word in _SINGULAR]


def names_class(text: str, cls: str) -> bool:
    """The text names `cls` (singular or plural) as a word."""
    return cls in {_SINGULAR.get(word) for word in _WORD.findall(text.lower())}


def grade(text: str, expected: dict) -> bool:
    """True if the answer states every fact in `expected` (e.g. a sample's key_facts)."""
    if not expected:
        return False
    stated = read_facts(text, expected)
    return all(stated.get(k, "<missing>") == v for k, v in expected.items())
