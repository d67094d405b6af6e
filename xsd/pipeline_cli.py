"""`xsd extract` and `xsd train`: the hidden-state store and the adapters trained on it."""
from __future__ import annotations

import json

ADAPTER_CHOICES = ("L1", "L2", "L3", "L4", "L5", "B1", "L5F", "all")


def add_commands(subparsers) -> None:
    from xsd.cli import add_profile_argument

    extract = subparsers.add_parser(
        "extract", help="run both models on a split and store their hidden states",
        description="Both VLMs answer every sample of the split greedily (up to the profile's "
        "max_new_tokens) and their last-layer states are stored in safetensors shards. "
        "Resumable: rerun the same command after an interruption. Prints samples/s and bytes/sample.",
    )
    add_profile_argument(extract)
    extract.add_argument("--split", choices=("train", "test", "both"), default="both")
    extract.set_defaults(handler=_extract)

    train = subparsers.add_parser(
        "train", help="train a hidden-state adapter (L1..L4, L5, B1, L5F) on the extracted store",
        description="Train an adapter on the profile's train store (its last shard held out for "
        "early stopping): AdamW, cosine schedule, MSE + 0.5·(1 − cos). Resumable; the checkpoint "
        "(safetensors + JSON config) and loss curves go under the models folder.",
    )
    train.add_argument("name", choices=ADAPTER_CHOICES, help="adapter to train, or all of them")
    add_profile_argument(train)
    train.set_defaults(handler=_train)


def _extract(args) -> int:
    from xsd.extract import extract

    splits = ("train", "test") if args.split == "both" else (args.split,)
    for split in splits:
        report = extract(args.profile, split)
        print(json.dumps({k: report[k] for k in ("split", "samples", "failed", "bytes_per_sample",
                                                  "samples_per_s_this_run", "store")}, indent=1))
    return 0


def _train(args) -> int:
    from xsd.adapters import ADAPTERS
    from xsd.config import load_profile
    from xsd.train_adapters import train_profile_adapter

    profile = load_profile(args.profile)
    names = ADAPTERS if args.name == "all" else (args.name,)
    for name in names:
        result = train_profile_adapter(profile, name)
        print(f"{name}: {result.params} parameters, {result.epochs} epochs, best val loss "
              f"{result.best_val_loss:.4f} at epoch {result.best_epoch}, {result.samples_per_s:.0f} samples/s")
    return 0
