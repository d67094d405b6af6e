"""The world-and-models study: what training the pair cost, how well each model answers, and
whether it reads its visual tokens or remembers its training clips. Each function trains the
profile's models first if needed; the measurements are cached by the models and their settings.
"""
from __future__ import annotations

from xsd.cache import cached_json
from xsd.config import Profile, fingerprint
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
