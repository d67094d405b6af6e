# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Token-level failure
#
# The first idea the study tried was the plainest form of cross-modal speculative decoding: let
# EventGPT write its answer and offer those tokens to Video-LLaVA as drafts. This notebook
# measures why that idea goes nowhere, in three steps:
#
# 1. **raw acceptance** — how often the draft model's own token is the target's token at the same
#    position of the answer (the two mini models share their base vocabulary, as EventGPT and
#    Video-LLaVA share Vicuna's);
# 2. **a learned token mapping** — the TokenAdapter, a small causal transformer that reads the
#    draft's tokens and predicts the target's token at each position, trained on the train store
#    and scored top-1 / top-5 on the test store;
# 3. **what classic speculative decoding makes of those rates** at the speed ratio
#    c = T_draft / T_target *measured* on this profile's two models.
#
# Every number comes from `xsd.token_level`; the seeds' figures (sd_pipeline_c_analysis.md §2)
# stand beside the mini-world measurements, which are never tuned to match them. The first run
# on a fresh machine builds what it needs (world, models, hidden-state stores, the TokenAdapter);
# later runs read the cached results.

# %% tags=["parameters"]
profile = "mini"
gammas = [1, 3, 5]  # draft lengths for the classic-SD table (the seeds used γ = 5)

# %% tags=["nbval-ignore-output"]
import matplotlib.pyplot as plt
import pandas as pd
from transformers.utils import logging as hf_logging

from xsd import plotting, results, seeds, token_level

plotting.use_style()
hf_logging.disable_progress_bar()  # model-loading bars would drown the outputs
study = token_level.token_level_study(profile)
settings = study["settings"]
print(f"profile: {study['profile']} (mini world)")
print(f"TokenAdapter: {settings['layers']} layers, width {settings['width']}, {settings['heads']} heads, "
      f"lr {settings['lr']}, batch {settings['batch_size']}, at most {settings['max_epochs']} epochs")

# %% [markdown]
# ## Raw draft tokens
#
# A position counts when both answers have a token there. "Run from start" is the number of
# matching tokens before the first mismatch: the tokens a verifier would accept if the whole draft
# answer were offered at once.

# %% tags=["nbval-ignore-output"]
reported = seeds.TOKEN_LEVEL
raw = pd.DataFrame([
    {"split": split, "positions": study["raw"][split]["positions"],
     "acceptance (mini world)": study["raw"][split]["acceptance"],
     "run from start (mini world)": study["raw"][split]["run_from_start"],
     "seeds: acceptance": reported[f"raw_acceptance_{split}"]}
    for split in ("train", "test")
]).set_index("split")
print(f"seeds, benchmark run: {reported['raw_acceptance_benchmark']:.2%}")
raw.round(4)

# %% [markdown]
# ## The TokenAdapter
#
# Trained with masked cross-entropy (early stopping on the train store's held-out shard);
# scored on the test store. The seeds' adapter had 45.5M parameters for 32 000-token
# vocabularies; the mini one is scaled to the mini LLMs.

# %% tags=["nbval-ignore-output"]
adapter = study["token_adapter"]
scores = adapter["test"]
pd.DataFrame([
    {"quantity": "top-1", "mini world": scores["top1"], "seeds": reported["token_adapter_top1_test"]},
    {"quantity": "top-5", "mini world": scores["top5"], "seeds": reported["token_adapter_top5_test"]},
    {"quantity": "top-1 run from start", "mini world": scores["top1_run_from_start"], "seeds": None},
    {"quantity": "parameters (M)", "mini world": adapter["params"] / 1e6, "seeds": reported["token_adapter_params_m"]},
    {"quantity": "epochs (best)", "mini world": f"{adapter['epochs']} ({adapter['best_epoch']})", "seeds": "11 (2)"},
]).set_index("quantity")

# %% tags=["nbval-ignore-output"]
curves = pd.DataFrame(adapter["curves"])
fig, (loss_ax, top1_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
loss_ax.plot(curves["epoch"], curves["train_loss"], label="train")
loss_ax.plot(curves["epoch"], curves["val_loss"], label="validation")
loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="TokenAdapter loss")
loss_ax.legend()
top1_ax.plot(curves["epoch"], curves["val_top1"], marker="o", label="validation top-1 (mini world)")
top1_ax.axhline(reported["token_adapter_top1_test"], color=plotting.SEEDS_COLOUR, ls="--", label="seeds: test top-1")
top1_ax.axhline(study["raw"]["test"]["acceptance"], color="tab:red", ls=":", label="raw acceptance (test)")
top1_ax.set(xlabel="epoch", ylabel="top-1", title="TokenAdapter accuracy", ylim=(0, 1))
top1_ax.legend()
print("figure:", plotting.save(fig, "token_level_training"))

# %% [markdown]
# ## Classic speculative decoding with these rates
#
# Drafting with the full draft model costs c target-steps per drafted token. With per-token
# acceptance α and γ drafts per round, the expected tokens per round are
# E(α, γ) = (1 − α^(γ+1)) / (1 − α) (the target's own token included) and the speedup over
# autoregressive decoding is S = E / (1 + c·γ) (`xsd.costmodel`). Here c is the ratio of the two
# models' per-token decode times, measured on this profile (1 torch thread each). Greedy
# verification accepts a draft only when it is the target's top-1 token, so the TokenAdapter's
# top-1 is the rate that applies; the top-5 row is a bound no chain drafter reaches (it would
# need the verifier to check five candidates at every position at no cost).

# %% tags=["nbval-ignore-output"]
timings = results.stage_timings(profile)
measured_c = timings["c"]
stage = seeds.STAGE_TIMING["decode_per_token"]
pd.DataFrame([
    {"quantity": "draft decode (ms/token)", "mini world": timings["draft"]["decode_per_token"], "seeds": stage["draft"]},
    {"quantity": "target decode (ms/token)", "mini world": timings["target"]["decode_per_token"], "seeds": stage["target"]},
    {"quantity": "c = T_draft / T_target", "mini world": measured_c, "seeds": seeds.CLASSIC_SD_EXAMPLE["c"]},
]).set_index("quantity").round(3)

# %% tags=["nbval-ignore-output"]
alphas = {
    "raw draft tokens (mini world)": study["raw"]["test"]["acceptance"],
    "TokenAdapter top-1 (mini world)": scores["top1"],
    "TokenAdapter top-5 (mini world, unreachable bound)": scores["top5"],
    "seeds: TokenAdapter top-1": seeds.CLASSIC_SD_EXAMPLE["alpha"],
}
sd_table = pd.DataFrame(token_level.classic_sd(alphas, measured_c, gammas)).set_index("acceptance")
sd_table.round(3)

# %% tags=["nbval-ignore-output"]
example = seeds.CLASSIC_SD_EXAMPLE
print(f"seeds: α = {example['alpha']}, γ = {example['gamma']}, c = {example['c']} -> "
      f"speedup {example['speedup']}× (slower than autoregressive)")
needed = token_level.required_alphas(measured_c, gammas)
for gamma, alpha in needed.items():
    print(f"measured c = {measured_c:.3f}, γ = {gamma}: break-even needs "
          + (f"α ≥ {alpha:.3f}" if alpha is not None else "more than α = 1 (never)"))
greedy = sd_table.loc["TokenAdapter top-1 (mini world)"]
print(f"TokenAdapter top-1 drafts at their best γ = {greedy['best γ']}: {greedy['speedup at best γ']:.3f}× -> "
      + ("slower than autoregressive" if greedy["speedup at best γ"] < 1 else "faster than autoregressive"))

# %% [markdown]
# ## Reading
#
# **Acceptance.** The mini world does not reproduce the seeds' ~1.5 % raw acceptance: its answers
# are short and built from a small set of templates, and the two mini models, although taught
# different answer styles, share many of those words in the same places, so raw acceptance comes
# out an order of magnitude higher (see the first table). The TokenAdapter behaves as in the
# seeds — it learns the target's phrasing and multiplies the raw rate — and on the mini answers it
# ends well above the seeds' 27.9 % top-1 and 51.6 % top-5. These are properties of the
# mini world's language, not of the method; they make token-level drafting look *better* here
# than in the study.
#
# **The verdict does not depend on them.** What decides it is c: the mini LLMs have
# equal-sized backbones, like the 7B pair, so a drafted token costs most of a target step, and
# the break-even acceptance at every γ is far above what top-1 drafts reach. With the rate greedy
# verification actually accepts, classic SD is slower than the target decoding alone (the last
# line of the cell above states the measured result); only the unreachable top-5 bound gets to
# break-even, barely. The seeds' conclusion holds in the mini world even with its more favourable
# acceptance rates: token-level SD with the full draft model cannot win at c ≈ 1. That is why the
# study moved to the draft's hidden states, where a cheap head drafts
# (*feature adapters*), and to the draft's short prefill (*speed ratio c ≈ 1*).
