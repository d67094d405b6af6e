"""Every profile-keyed location, answered by one object: `Locations(profile)`.

Each folder is keyed by everything that shapes what it holds, so a changed setting lands in a new
folder and nothing stale is read:

| property / method   | holds                                   | keyed by                               |
|---------------------|-----------------------------------------|----------------------------------------|
| `world`             | the world (or imported dataset)         | the profile's name                     |
| `checkpoint`        | the trained mini/smoke pair             | models + world settings, seed, recipe  |
| `store(split)`      | a split's hidden-state store            | extraction settings, the models        |
| `adapter(name)`     | a trained adapter                       | the train store, adapter settings      |
| `results(study)`    | a study's cached results                | (the file name carries the key)        |
| `token_adapter(k)`  | the token-level study's TokenAdapter    | the study's key                        |

The recipe versions live here because they are part of the keys: bump one when the training code
changes what its checkpoint holds, and the next run trains into a new folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xsd import paths
from xsd.config import Profile, fingerprint

MODELS_RECIPE = 5  # bump when the mini trainer (xsd.models.mini_*) changes what a checkpoint holds

# What training does for an adapter (masks, loss); bump an adapter's when it changes, so that a
# checkpoint trained the old way is refused instead of evaluated as if it were current.
# 2: the heads reading the draft's stream trained on every position of the target's answer (mask_vl),
#    zero draft rows past the end of the draft's answer (they were trained only where both existed; B1,
#    reading the target's states alone, always was trained on mask_vl)
ADAPTER_RECIPES = {"L5": 2, "L5F": 2}


def adapter_recipe(name: str) -> int:
    return ADAPTER_RECIPES.get(name, 1)


@dataclass(frozen=True)
class Locations:
    profile: Profile

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def world(self) -> Path:
        return paths.world_dir(self.name)

    @property
    def checkpoint(self) -> Path:
        """The trained pair's folder (mini/smoke)."""
        p = self.profile
        key = {"models": p.models, "world": p.world, "seed": p.seed, "recipe": MODELS_RECIPE}
        return paths.models_dir() / self.name / fingerprint(key)

    @property
    def models_key(self) -> str:
        """What identifies the profile's models in other keys: the checkpoint's folder name for
        trained models, the fingerprint of the models' settings for pretrained ones."""
        return self.checkpoint.name if self.profile.models.trained_here else fingerprint(self.profile.models)

    def store(self, split: str) -> Path:
        p = self.profile
        key = fingerprint({"extract": p.extract, "models": self.models_key, "world": p.world, "seed": p.seed})
        return paths.cache_dir() / "hidden_states" / self.name / key / split

    def adapter(self, name: str) -> Path:
        """The store enters the key by its place inside the cache (hidden_states/<profile>/<its own
        content key>/train), never by an absolute path, so a moved cache (XSD_CACHE) keeps its adapters."""
        store = self.store("train").relative_to(paths.cache_dir()).as_posix()
        key = {"store": store, "adapters": self.profile.adapters, "name": name}
        if adapter_recipe(name) > 1:  # a newer recipe trains anew; recipe-1 adapters keep their folders
            key["recipe"] = adapter_recipe(name)
        return paths.models_dir() / self.name / "adapters" / fingerprint(key) / name

    def results(self, study: str) -> Path:
        """The folder of a study's cached results ("results" for the shared ones)."""
        return paths.cache_dir() / study / self.name

    def token_adapter(self, key: str) -> Path:
        return paths.models_dir() / self.name / "token_adapter" / key

    @property
    def runs(self) -> Path:
        return paths.runs_dir(self.name)
