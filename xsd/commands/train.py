"""`xsd train`: a hidden-state adapter trained on the profile's extracted store."""
from __future__ import annotations

from xsd.names import ADAPTERS


def add_commands(subparsers) -> None:
    from xsd.cli import add_profile_argument

    train = subparsers.add_parser(
        "train", help="train a hidden-state adapter (L1..L4, L5, B1, L5F) on the extracted store",
        description="Train an adapter on the profile's train store (its last shard held out for "
        "early stopping): AdamW, cosine schedule, MSE + 0.5·(1 − cos). Resumable; the checkpoint "
        "(safetensors + JSON config) and loss curves go under the models folder.",
    )
    train.add_argument("name", choices=ADAPTERS + ("all",), help="adapter to train, or all of them")
    add_profile_argument(train)
    train.set_defaults(handler=_train)


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
