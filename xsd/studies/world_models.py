"""The world-and-models study: what training the pair cost, how well each model answers, and
whether it reads its visual tokens or remembers its training clips, with the tables and the
sentences the notebook shows (the world itself: `xsd.studies.world_data`; where the time goes:
`xsd.studies.world_timing`). Each measuring function trains the profile's models first if needed;
the measurements are cached by the models and their settings.
"""
from __future__ import annotations

from xsd import readings
from xsd.cache import cached_json
from xsd.config import SIDES, Profile, fingerprint
from xsd.locations import Locations


def training_report(profile: Profile, progress: bool = False) -> dict | None:
    """How long the profile's models took to train and their peak memory (None: pretrained)."""
    from xsd.models.registry import training_report as report
    from xsd.pipeline import ensure_models

    ensure_models(profile, progress)
    return report(profile)


def model_accuracy(profile: Profile, limit: int | None = 40, progress: bool = False) -> dict:
    """Key-fact accuracy per question type of both models (xsd.studies.model_accuracy)."""
    from xsd.pipeline import ensure_models
    from xsd.studies.model_accuracy import evaluate_profile

    ensure_models(profile, progress)
    return evaluate_profile(profile, limit=limit)


def fact_choice(profile: Profile, limit: int | None = 40, refresh: bool = False, progress: bool = False) -> dict:
    """Both models' teacher-forced choice of a fact on the train and the test split
    (xsd.studies.fact_choice): reading against remembering."""
    from xsd.pipeline import ensure_models
    from xsd.studies.fact_choice import train_and_test_choice

    ensure_models(profile, progress)
    key = {"models": Locations(profile).models_key, "limit": limit}
    return cached_json(Locations(profile).results("results") / f"fact_choice-{fingerprint(key)}.json",
                       lambda: train_and_test_choice(profile, limit), refresh)


def question_following(profile: Profile, clips: int = 6, refresh: bool = False, progress: bool = False) -> dict:
    """Both models asked every class question about every class on the first test clips
    (xsd.studies.question_following): do they read the question?"""
    from xsd.pipeline import ensure_models
    from xsd.studies.question_following import question_following as measure

    ensure_models(profile, progress)
    key = {"models": Locations(profile).models_key, "clips": clips}
    return cached_json(Locations(profile).results("results") / f"question_following-{fingerprint(key)}.json",
                       lambda: measure(profile, clips), refresh)


def description_reading(profile: Profile, limit: int | None = 40, refresh: bool = False,
                        progress: bool = False) -> dict | None:
    """The shared base LLM asked both sides' test questions with each clip's true description in
    words (xsd.studies.description_reading); None for a profile without a base LLM."""
    from xsd.models import mini_base
    from xsd.pipeline import ensure_models
    from xsd.studies.description_reading import description_reading as measure
    from xsd.studies.model_accuracy import has_asked_in_view

    if not mini_base.enabled(profile):
        return None
    ensure_models(profile, progress)
    key = {"models": Locations(profile).models_key, "limit": limit}
    return cached_json(Locations(profile).results("results") / f"description_reading-{fingerprint(key)}.json",
                       lambda: measure(profile, limit), refresh, valid=has_asked_in_view)


def tower_classes(profile: Profile, refresh: bool = False, progress: bool = False) -> dict | None:
    """Per side, what stage A's heads make of the test clips' road users (xsd.studies.tower_classes);
    None for pretrained models."""
    from xsd.pipeline import ensure_models
    from xsd.studies.tower_classes import EVENT_BINS, tower_classes as measure

    if not profile.models.trained_here:
        return None
    ensure_models(profile, progress)
    key = {"models": Locations(profile).models_key, "event_bins": EVENT_BINS}
    return cached_json(Locations(profile).results("results") / f"tower_classes-{fingerprint(key)}.json",
                       lambda: {side: measure(profile, side) for side in SIDES}, refresh)


# -- how good the two models are --------------------------------------------------------------------

ACCURACY_GOALS = {"draft": 0.70, "target": 0.80}  # mean key-fact accuracy each model must reach
ACCURACY_AIMS = {"draft": 0.75, "target": 0.85}   # and what it is built to reach


def accuracy_table(accuracy: dict):
    """Key-fact accuracy per question type (rows) of both models (columns), and the mean over all
    graded answers as the last row."""
    import pandas as pd

    table = pd.DataFrame({side: {q: v["accuracy"] for q, v in accuracy[side]["per_qtype"].items()}
                          for side in SIDES})
    table.loc["mean (all graded answers)"] = [accuracy[side]["mean"] for side in SIDES]
    return table


def accuracy_verdicts(accuracy: dict, goals: dict = ACCURACY_GOALS) -> list[str]:
    """One line per model: its mean key-fact accuracy, over how many answers, with the 95% interval
    of that many graded answers, and whether it meets its goal (mean ≥ goal) or is below it (and
    whether the goal lies inside the interval, where another draw of questions could meet it)."""
    return [_accuracy_verdict(side, accuracy[side], goal) for side, goal in goals.items()]


def _accuracy_verdict(side: str, result: dict, goal: float) -> str:
    from xsd.metrics import wilson_interval

    mean, n = result["mean"], result["n"]
    low, high = wilson_interval(round(mean * n), n)
    verdict = ("meets" if mean >= goal else "below, though within the interval of" if high >= goal
               else "below")
    aim = ACCURACY_AIMS.get(side)
    return (f"{side}: {mean:.1%} mean key-fact accuracy over {n} answers (95% interval {low:.1%}–{high:.1%}) — "
            f"{verdict} the goal of {goal:.0%}" + (f" (aim: {aim:.0%})" if aim and aim != goal else ""))


def accuracy_trust(accuracy: dict, goals: dict = ACCURACY_GOALS) -> str:
    """Which models fall short of their accuracy goal, and what that means for the later studies'
    acceptance rates."""
    short = [f"the {side} ({accuracy[side]['mean']:.0%}, goal {goal:.0%})" for side, goal in goals.items()
             if accuracy[side]["mean"] < goal]
    if not short:
        return "Both models meet their accuracy goals."
    one = len(short) == 1
    return (f"Below {'its' if one else 'their'} accuracy goal: {readings.join(short)}; the acceptance rates of "
            f"the later studies describe {'that model' if one else 'these models'} on this profile.")


# -- the language model's own reading: answers from a description in words ----------------------------

NEAR = 0.05  # a VLM within 5 points of the base LLM told the scene in words gets "about as many" facts


def description_table(accuracy: dict, reading: dict):
    """Per question type (rows): each VLM's key-fact accuracy beside the base LLM's from the
    description in that side's words, and both means over all graded answers as the last row."""
    import pandas as pd

    columns = {}
    for side in SIDES:
        columns[(side, "VLM")] = {q: v["accuracy"] for q, v in accuracy[side]["per_qtype"].items()}
        columns[(side, "base LLM, words")] = {q: v["accuracy"] for q, v in reading[side]["per_qtype"].items()}
    table = pd.DataFrame(columns)
    table.loc["mean (all graded answers)"] = [accuracy[side]["mean"] if kind == "VLM" else reading[side]["mean"]
                                               for side, kind in columns]
    return table


def description_reading_lines(accuracy: dict, reading: dict) -> list[str]:
    """The reading's paragraphs: per side, whether its VLM gets more, about as many or fewer of the
    key facts from its sensor than the base LLM it started from gets from the scene in words."""
    lines = []
    for side in SIDES:
        vlm, told = accuracy[side]["mean"], reading[side]["mean"]
        sensor = "event frames" if side == "draft" else "video"
        if vlm > told + NEAR:
            verdict = (f"the VLM gets {vlm - told:.0%} more from its {sensor}: stage C taught its language model "
                       "to read more than it could from words, so the base LLM's reading is no ceiling for it")
        elif vlm >= told - NEAR:
            verdict = (f"the VLM gets about as many from its {sensor}: it reads its sensor about as well as its "
                       "starting language model reads words")
        else:
            verdict = (f"the VLM gets {told - vlm:.0%} fewer from its {sensor}: facts the words carry are lost "
                       "between its sensor and its language model")
        lines.append(f"- Told each {side} test clip in words, the base LLM gives {told:.1%} of the key facts, "
                     f"the {side} VLM {vlm:.1%}; {verdict}.")
    return ["**Reading the description.**", "\n".join(lines)]


def asked_in_view_table(accuracy: dict, reading: dict | None):
    """The class questions' key-fact accuracy (rows: the asked class absent from the side's view, in
    it once, several times) of each VLM and, given `reading`, of the base LLM told the scene in
    words; `n` columns count the questions."""
    import pandas as pd

    sources = {"VLM": accuracy} | ({"base LLM, words": reading} if reading else {})
    columns = {}
    for side in SIDES:
        for kind, result in sources.items():
            split = result[side]["by_asked_in_view"]
            columns[(side, kind)] = {k: v["accuracy"] for k, v in split.items()}
        columns[(side, "n")] = {k: v["n"] for k, v in accuracy[side]["by_asked_in_view"].items()}
    return pd.DataFrame(columns)


PRIOR_GAP = 0.2  # class questions about an absent class this much below those about one in view: "from its prior"


def asked_in_view_lines(accuracy: dict, reading: dict | None) -> list[str]:
    """The reading's paragraphs: per side and model, whether it answers a question about a class its
    view lacks about as well as one about a class in view, or answers as if the class were there."""
    sources = {"VLM": accuracy} | ({"base LLM told the scene in words": reading} if reading else {})
    lines = []
    for side in SIDES:
        for kind, result in sources.items():
            split = result[side]["by_asked_in_view"]
            if "absent" not in split or "one" not in split:
                continue
            absent, one = split["absent"]["accuracy"], split["one"]["accuracy"]
            verdict = ("it answers as if the asked class were there: from what such questions usually ask, "
                       "not from its input" if absent < one - PRIOR_GAP else
                       "it tells a class it is not shown from one it is")
            lines.append(f"- The {side}'s {kind}: {one:.0%} of class questions about a class in view "
                         f"once, {absent:.0%} about one not in view; {verdict}.")
    if not lines:
        lines.append("- Too few graded class questions to compare: none about an absent class or none about "
                     "a class in view once (imported clips carry no truth to count the asked class in).")
    return ["**Asked about a class it does not see.**", "\n".join(lines)]

# -- what training cost -----------------------------------------------------------------------------

TRAINING_BUDGET_MINUTES = 20  # both models, side by side, on 2 cores
BUDGETED_PROFILE = "mini"     # the default, whose cold book must fit its half hour; others have no budget


def training_summary(profile: Profile, report: dict | None) -> str:
    """Wall time of training both models (against the budget, for the profile that has one), and
    how they were run in parallel."""
    if report is None:
        return f"profile {profile.name}: pretrained models, nothing trained here"
    minutes = report["wall_seconds"] / 60
    budget = ""
    if profile.name == BUDGETED_PROFILE:
        within = "within" if minutes <= TRAINING_BUDGET_MINUTES else "over"
        budget = f" ({within} the {TRAINING_BUDGET_MINUTES}-minute budget)"
    return f"both models: {minutes:.1f} min wall{budget}, {report['jobs']} processes × {report['threads_per_job']} thread"


def training_table(report: dict):
    """Per model (columns): seconds of each training stage (the shared base LLM's: what that side
    spent training it or waiting for it; alignment only where it ran), tuning steps, final tuning
    loss and peak memory (MB)."""
    import pandas as pd

    def stages(r: dict) -> dict:
        out = {"tower (s)": r["tower"]["seconds"], "features (s)": r["features"]["seconds"]}
        if "base_llm_seconds" in r:
            out["base LLM, trained or awaited (s)"] = r["base_llm_seconds"]
        if "align" in r:
            out["alignment (s)"] = r["align"]["seconds"]
        return out

    return pd.DataFrame({side: {**stages(r), "tuning (s)": r["tune"]["seconds"], "tuning steps": r["tune"]["steps"],
                                "final tuning loss": r["tune"]["final_loss"], "peak memory (MB)": r["peak_rss_mb"]}
                         for side, r in report["sides"].items()})


def tower_table(report: dict, classes: dict):
    """What each frozen tower tells apart on the test clips (stage A's heads), per quantity (rows),
    with how often it gets a road user's class and one of its facts right together."""
    import pandas as pd

    return pd.DataFrame({side: tower_quantities(report, classes, side) for side in report["sides"]})


def tower_quantities(report: dict, classes: dict, side: str) -> dict[str, float]:
    return {**report["sides"][side]["tower"]["test_accuracy"], **classes[side]["joint"]}


# The stage-A quantity that decides each question type's key fact, per side (`attr` is colour for
# the video tower, direction for the event tower). A question that names a class needs its road
# user found first, so its quantity is the class and the fact together. A description needs every
# quantity and no head reads the camera's own motion, so `describe` and `ego_motion` have none.
DECIDING_QUANTITY = {
    "target": {"colour": "class+attr", "position": "class+x", "direction": "class+motion", "count": "count",
               "lighting": "lighting", "presence": "class", "count_class": "class", "objects": "class"},
    "draft": {"direction": "class+attr", "position": "class+x", "count": "count", "presence": "class",
              "count_class": "class", "objects": "class"},
}
READ_AT_LEAST, TOWER_ABOVE = 0.60, 0.75  # a type the tower separates above 0.75 should be read at 60%


def tower_gap_table(accuracy: dict, report: dict, classes: dict, side: str = "target"):
    """Per question type with a deciding quantity (rows): the model's key-fact accuracy, that
    quantity and how well the side's tower tells it apart on the test clips."""
    import pandas as pd

    tower = tower_quantities(report, classes, side)
    rows = {qtype: {"model": accuracy[side]["per_qtype"][qtype]["accuracy"], "quantity": quantity,
                    "tower": tower.get(quantity, float("nan"))}
            for qtype, quantity in DECIDING_QUANTITY[side].items() if qtype in accuracy[side]["per_qtype"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def tower_gap_line(accuracy: dict, report: dict, classes: dict, side: str = "target") -> str:
    """Which question types the model reads below 60% although its tower tells their deciding
    quantity apart above 0.75: facts the tower holds and the LLM does not read."""
    table = tower_gap_table(accuracy, report, classes, side)
    gaps = table[(table["tower"] > TOWER_ABOVE) & (table["model"] < READ_AT_LEAST)]
    rule = (f"below {READ_AT_LEAST:.0%} key-fact accuracy although the {side}'s tower tells the deciding "
            f"quantity apart above {TOWER_ABOVE}")
    if gaps.empty:
        return f"No question type is {rule}."
    shown = [f"{qtype} ({row.model:.0%}; tower {row.quantity} {row.tower:.2f})" for qtype, row in gaps.iterrows()]
    verb = "is" if len(shown) == 1 else "are"
    return f"{len(shown)} of {len(table)} question types {verb} {rule}: {readings.join(shown)}."


TOWER_NAMES = {"draft": "event tower (the draft's)", "target": "video tower (the target's)"}


def class_confusion_table(classes: dict, side: str):
    """Per true class of a road user (rows): the share the side's tower takes for each class or
    for an empty lane (columns), and how many road users."""
    import pandas as pd

    counts = pd.DataFrame.from_dict(classes[side]["confusion"], orient="index")
    table = counts.div(counts.sum(axis=1), axis=0)
    table["road users"] = counts.sum(axis=1)
    table.index.name = "road user"
    return table


def evidence_table(classes: dict):
    """Per side and evidence label (rows, the side's own labels): the share of road users whose
    class the tower tells, and how many."""
    import pandas as pd

    rows = {(side, label): {"class right": cell["right"] / cell["road_users"] if cell["road_users"] else float("nan"),
                            "road users": cell["road_users"]}
            for side in SIDES for label, cell in classes[side]["by_evidence"].items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["tower", "frame shows"]
    return table


def tower_class_lines(classes: dict) -> list[str]:
    """Per tower: its class accuracy by what the frame shows, and its most frequent mistake."""
    lines = []
    for side in SIDES:
        result = classes[side]
        shown = [f"{label} {cell['right'] / cell['road_users']:.0%} of {cell['road_users']}"
                 for label, cell in result["by_evidence"].items() if cell["road_users"]]
        true, taken, n = max(((t, p, n) for t, row in result["confusion"].items() for p, n in row.items() if p != t),
                             key=lambda item: item[2])
        of_class = sum(result["confusion"][true].values())
        lines.append(f"- The {TOWER_NAMES[side]} tells a road user's class, by {result['evidence']}: "
                     f"{readings.join(shown)}. Its most frequent mistake takes a {true} for "
                     f"{'an empty lane' if taken == 'empty' else f'a {taken}'} ({n} of {of_class}).")
    return lines


def describe_order_table(accuracy: dict):
    """Per road user in view (rows, 1 = the nearest), the share of each model's descriptions that
    name its class in its place, and over how many descriptions (xsd.studies.model_accuracy.naming_in_order)."""
    import pandas as pd

    columns = {}
    for side in SIDES:
        rows = {r["road_user"]: r for r in accuracy[side]["describe_order"]}
        columns[(side, "named")] = {k: r["named"] for k, r in rows.items()}
        columns[(side, "n")] = {k: r["n"] for k, r in rows.items()}
    table = pd.DataFrame(columns)
    for side in SIDES:   # a side without a k-th road user in any description leaves a gap, not 0
        table[(side, "n")] = table[(side, "n")].astype("Int64")
    table.index.name = "road user in view"
    return table


def describe_order_lines(accuracy: dict, report: dict | None) -> list[str]:
    """Per model: how often its descriptions name the nearest road user's class, beside how well its
    tower tells a road user's class (when the models were trained here)."""
    lines = []
    for side in SIDES:
        order = accuracy[side]["describe_order"]
        if not order:
            lines.append(f"- The {side}: no graded description with a road user in view.")
            continue
        nearest = order[0]
        line = (f"- The {side} names the nearest road user's class first in {nearest['named']:.0%} of its "
                f"{nearest['n']} descriptions with one in view")
        tower = (report or {}).get("sides", {}).get(side, {}).get("tower", {}).get("test_accuracy", {})
        if "occupied" in tower:   # stage A scored the class on road users only
            line += f"; its tower tells a road user's class at {tower['class']:.2f} (mean over the lanes)"
        lines.append(line + ".")
    return lines


# -- reading or remembering: the fact choice ---------------------------------------------------------

SAME_CHOICE = 0.10  # a train − test difference within ±0.10 reads "about as well on both"
FEW_QUESTIONS = 20  # below this many test questions for a type, the reading adds a caution


def fact_choice_table(choice: dict):
    """Per model and question type (rows): choice accuracy on train and test clips, chance, and how
    many test questions."""
    import pandas as pd

    rows = [{"model": side, "question": qtype, "train": choice[side]["train"][qtype]["accuracy"],
             "test": choice[side]["test"][qtype]["accuracy"], "chance": scores["chance"], "n (test)": scores["n"]}
            for side in SIDES for qtype, scores in choice[side]["test"].items()]
    return pd.DataFrame(rows).set_index(["model", "question"])


def fact_choice_gaps(choice: dict, side: str) -> dict[str, float]:
    """Train minus test choice accuracy per question type of one model."""
    return {q: choice[side]["train"][q]["accuracy"] - s["accuracy"] for q, s in choice[side]["test"].items()}


def fact_choice_gap_lines(choice: dict) -> list[str]:
    """One line per model: train minus test, per question type."""
    return [f"{side}: train minus test, per question type: "
            + ", ".join(f"{q} {g:+.2f}" for q, g in fact_choice_gaps(choice, side).items()) for side in SIDES]


def choice_pattern(gaps: dict[str, float]) -> str:
    """Which pattern a model's train − test gaps show: reading (all within ±SAME_CHOICE), memorised
    training clips (better on train only), better on unseen clips, or no single pattern."""
    n = len(gaps)
    up = [q for q, g in gaps.items() if g > SAME_CHOICE]
    down = [q for q, g in gaps.items() if g < -SAME_CHOICE]
    if not up and not down:
        return ("chooses about as well on unseen clips as on its training clips in every question type, the "
                "pattern of a model that reads the visual tokens")
    if not down:
        return (f"chooses better on the clips it was tuned on ({readings.join(up)}; "
                f"{readings.count_phrase(len(up), n, 'question type')}) and never better on unseen ones, the "
                f"pattern of memorised training clips")
    if not up:
        return (f"chooses better on unseen clips than on its training clips ({readings.join(down)}; "
                f"{readings.count_phrase(len(down), n, 'question type')}), which neither pattern predicts")
    return (f"chooses better on its training clips for {readings.join(up)} and better on unseen clips for "
            f"{readings.join(down)}: no single pattern")


def fact_choice_reading(choice: dict) -> list[str]:
    """The reading's paragraphs: a title, one bullet per model (its pattern and in how many question
    types it is above chance on the test clips), and a caution when a type has few test questions."""
    lines = []
    for side in SIDES:
        test_scores = choice[side]["test"]
        if not test_scores:
            continue
        above = sum(s["accuracy"] > s["chance"] for s in test_scores.values())
        lines.append(f"- The {side} {choice_pattern(fact_choice_gaps(choice, side))}; on the test clips it is above "
                     f"chance in {readings.count_phrase(above, len(test_scores), 'question type')}.")
    fewest = min((s["n"] for side in SIDES for s in choice[side]["test"].values()), default=0)
    caution = (f"With as few as {fewest} test questions for a type, one answer moves its accuracy by {1 / fewest:.2f}: "
               "read these differences with that in mind." if 0 < fewest < FEW_QUESTIONS else "")
    return ["**Reading the fact choice.**", "\n".join(lines), caution]


# -- reading the question -------------------------------------------------------------------------------

FOLLOWS = 0.9  # a model that names the asked class in at least 90% of its answers "reads the question"
# below half it "answers mostly from the clip": naming the road user in view hits the asked class
# only when the question happens to ask about it (one class in five, more in busy clips)
IGNORES = 0.5


def question_following_table(result: dict):
    """Per model and question type (rows): the share of answers that name the asked class and the
    share of distinct answers among a clip's five classes, for the model and for the reference answers."""
    import pandas as pd

    rows = [{"model": side, "question": qtype,
             "names asked class": scores["names_asked_class"],
             "reference": result[side]["reference"][qtype]["names_asked_class"],
             "distinct answers": scores["distinct_answers"],
             "reference distinct": result[side]["reference"][qtype]["distinct_answers"],
             "answers": scores["answers"]}
            for side in SIDES for qtype, scores in result[side]["model"].items()]
    return pd.DataFrame(rows).set_index(["model", "question"])


def named_share(result: dict, side: str, of: str = "model") -> float:
    """The share of a side's answers (or of its reference answers) that name the asked class."""
    scores = result[side][of].values()
    return sum(s["names_asked_class"] * s["answers"] for s in scores) / sum(s["answers"] for s in scores)


def question_following_reading(result: dict) -> list[str]:
    """One bullet per model: whether it reads the question, from the share of its answers that
    name the asked class beside its reference answers' share."""
    lines = []
    for side in SIDES:
        share, reference = named_share(result, side), named_share(result, side, "reference")
        worst = min(result[side]["model"].items(), key=lambda item: item[1]["names_asked_class"])
        verdict = ("reads the question" if share >= FOLLOWS else
                   "answers mostly from the clip, not from the question" if share < IGNORES else
                   "reads the question only in part")
        lines.append(f"- The {side} names the class it was asked about in {share:.0%} of its answers "
                     f"(its reference answers: {reference:.0%}; lowest for {worst[0]}, "
                     f"{worst[1]['names_asked_class']:.0%}): it {verdict}.")
    return ["**Reading the question.**", "\n".join(lines)]
