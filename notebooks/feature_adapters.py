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
# # Feature adapters
#
# Instead of the draft's tokens, the feature-level approach reads the draft's last-layer hidden
# states and maps them into the target's state space, where the target's own LM head turns them
# into draft tokens. Two families (the methods page, §2):
#
# - **per-position adapters L1–L4** map h_egpt[t] → h_vl[t]. They serve phase 1 of the two-phase
#   decoder: tokens the draft side produces while the target is still prefilling.
# - **next-state heads L5, B1, L5F** predict h_vl[t+1] from a causal context: L5 from the draft's
#   states only, B1 from the target's own states (the same-model EAGLE baseline), L5F from both
#   through a learned gate. They serve phase 2, drafting γ tokens per round.
#
# This notebook reproduces the seeds' tables (training_eval_results.md) on the mini world and adds
# what the seeds did not measure: **free-running** drafting. The seeds scored the heads
# *teacher-forced* — at every position the head read the target's true state, including states a
# live drafter cannot have, because they belong to tokens it is still drafting. Free-running, the
# head reads its own prediction after the first draft of a round (through its KV cache, as
# `xsd.decode` does); L5F's event stream stays the draft model's true states, which the draft
# model computes alongside.
#
# Consecutive accepts are counted per window of γ drafts. A window starts where the target has
# just produced a token; its *first window* (the answer's first γ drafts) is what the seeds
# reported as "α". A decoder meets a window at every round boundary: a round that accepts a drafts
# also emits the target's own token, so the next window starts a + 1 positions later. The mean
# over those windows is what a decoder experiences along the whole answer.
#
# All numbers are measured on the mini world by `xsd.adapter_eval`; the first run on a fresh
# machine extracts the stores and trains the adapters (each step resumable), later runs read
# cached results.

# %% tags=["parameters"]
profile = "mini"
memory_shards = 2  # the memory benchmark trains on this many shards and on 4× as many

# %% tags=["nbval-ignore-output"]
# nbval ignores this cell's output: the first run on a fresh machine prints the pipeline's progress here
import matplotlib.pyplot as plt
import pandas as pd
from transformers.utils import logging as hf_logging

from xsd import adapter_eval, plotting, seeds
from xsd.adapters import ADAPTERS, NEXT_STATE, PER_POSITION

plotting.use_style()
world = f"{profile} world"  # the world every number below was measured on
hf_logging.disable_progress_bar()  # model-loading bars would drown the outputs
results = adapter_eval.evaluate_profile(profile)
by_name = {r["adapter"]: r for r in results}
print(f"profile: {profile} ({world}); test samples: {results[0]['samples']}; γ = {adapter_eval.GAMMA}")

# %% [markdown]
# ## Training curves
#
# AdamW, cosine schedule, loss MSE + 0.5·(1 − cos) (the heads: 0.3 · alignment with h_vl[t] +
# 0.7 · prediction of h_vl[t+1]), early stopping on the train store's held-out shard. The heads'
# loss includes the alignment term, so it is not on the same scale as L1–L4's.

# %%
fig, axes = plt.subplots(2, 4, figsize=(14, 6), sharex=False)
for ax, name in zip(axes.flat, ADAPTERS):
    curve = pd.DataFrame(adapter_eval.training_curves(profile, name))
    ax.plot(curve["epoch"], curve["train_loss"], label="train")
    ax.plot(curve["epoch"], curve["val_loss"], label="validation")
    ax.axvline(by_name[name]["best_epoch"], color=plotting.SEEDS_COLOUR, ls=":", lw=1)
    ax.set(title=f"{name} ({by_name[name]['params'] / 1e3:.0f}k params)", xlabel="epoch")
axes.flat[0].set_ylabel("loss")
axes.flat[0].legend()
axes.flat[-1].axis("off")
fig.tight_layout()
print("figure:", plotting.save(fig, "feature_adapters_curves"))

# %% [markdown]
# ## Hidden-state table
#
# Cosine similarity between each adapter's output and the target state it estimates (h_vl[t] for
# L1–L4, h_vl[t+1] for the heads) on the test store; accept@τ is the share of positions above τ.
# The mini LLMs are 256 wide, not 4096, so parameter counts are far smaller; with H = 4096 the
# factory builds L1 and L2 at the seeds' 2.1M and 6.3M. L3 follows its described architecture
# (4096 → 1024 → 4096: 8.4M) rather than the seeds' reported 16M, which that architecture cannot
# have.

# %%
adapter_eval.hidden_state_table(results).round(3).T  # one column per adapter; seeds' rows beside ours

# %% [markdown]
# ## Token level: per-position adapters (phase 1)
#
# Same-position top-1: the target's LM head applied to the adapted state at t, against the target's
# token t. Prefill free tokens: matching tokens from the answer's start, within 7 slots (the
# drafts a 180 ms prefill window held in the seeds' timing).

# %%
adapter_eval.per_position_token_table(results).round(3)

# %% [markdown]
# ## Token level: next-state heads (phase 2)
#
# Same-pos top-1 reads the head's next-state output at t against token t, as the seeds did (for
# heads with an alignment output, "aligned top-1" reads that output instead). Shifted top-1/top-5
# read it against token t + 1, which is what the head is for. TF = teacher-forced, FR =
# free-running; "first window" is the seeds' α, "per round" the mean over the windows a decoder
# meets. Every head is trained and scored at every position of the target's answer, so L5, B1 and
# L5F share their denominators; past the end of the draft's answer L5 and L5F read zero rows of the
# draft's stream, as the live decoder gives them there.

# %%
heads = adapter_eval.head_token_table(results)
heads.round(3).T

# %%
columns = {"TF first window": "teacher-forced, first window", "FR first window": "free-running, first window",
           "TF per round": "teacher-forced, per round", "FR per round": "free-running, per round"}
fig, ax = plt.subplots(figsize=(8, 3.8))
heads[list(columns)].rename(columns=columns).plot.bar(ax=ax, rot=0)
for i, name in enumerate(heads.index):
    ax.plot([i - 0.4, i + 0.4], [heads.loc[name, "seeds: α (TF first window)"]] * 2, color=plotting.SEEDS_COLOUR,
            lw=3, label="seeds: α" if i == 0 else None)
ax.set(ylabel=f"accepted drafts per window (γ = {adapter_eval.GAMMA})",
       title=f"consecutive accepts: teacher-forced vs free-running ({world})")
ax.legend(fontsize=8, loc="upper left")
print("figure:", plotting.save(fig, "feature_adapters_tf_vs_fr"))

# %%
for name in NEXT_STATE:
    r = by_name[name]
    gap = r["teacher_forced_rounds"] - r["free_running_rounds"]
    print(f"{name}: per round TF {r['teacher_forced_rounds']:.3f} vs FR {r['free_running_rounds']:.3f} "
          f"(FR loses {gap:.3f} drafts per round); first window TF {r['teacher_forced_first_window']:.3f}, "
          f"FR {r['free_running_first_window']:.3f}; seeds' α {dict((s['level'], s['consecutive_accepts']) for s in seeds.EAGLE_TOKEN_TABLE)[name]}")
best_prefill = max(PER_POSITION, key=lambda n: by_name[n]["prefill_free_tokens"])
print(f"most prefill free tokens: {best_prefill} ({by_name[best_prefill]['prefill_free_tokens']:.2f} of "
      f"{by_name[best_prefill]['slots']}); seeds: L3 (4.85 of 7)")
print("L5F vs B1, free-running per round: "
      f"{by_name['L5F']['free_running_rounds']:.3f} vs {by_name['B1']['free_running_rounds']:.3f}; "
      f"accept@0.90: {by_name['L5F']['accept@0.90']:.3f} vs {by_name['B1']['accept@0.90']:.3f} "
      "(seeds: 0.662 vs 0.612)")

# %% [markdown]
# ## Benchmarks
#
# Extraction throughput and storage per sample come from the extraction reports (both models
# generate greedily with hidden states on, batched; the seeds stored 1.6 MB per sample at
# H = 4096 and 50 tokens). Training throughput comes from each adapter's run. Peak memory is
# measured in a fresh subprocess (`resource.getrusage`) training one epoch on a synthetic store of
# the mini store's shape, at two sizes: the training loop streams shard by shard, so memory must
# not grow with the number of shards.

# %% tags=["nbval-ignore-output"]
# nbval ignores this cell's output: extraction throughput measured in this run
extraction = pd.DataFrame(adapter_eval.extraction_benchmark(profile)).set_index("split")
extraction["kB per sample"] = extraction["bytes_per_sample"] / 1e3
print("seeds: 1.6 MB per sample (H = 4096, 50 tokens, both streams); half precision at that shape is "
      f"{2 * 50 * 4096 * 2 / 1e6:.2f} MB")
extraction.drop(columns="bytes_per_sample").round(2)

# %% tags=["nbval-ignore-output"]
# nbval ignores this cell's output: training times measured in this run
pd.DataFrame([{"adapter": r["adapter"], "params": r["params"], "epochs": r["epochs"],
               "train samples/s": r["train_samples_per_s"]} for r in results]).set_index("adapter").round(0)

# %% tags=["nbval-ignore-output"]
# nbval ignores this cell's output: memory and time measured in this run
memory = pd.DataFrame(adapter_eval.memory_benchmark(profile, shards=memory_shards)).set_index("shards")
growth = memory["peak_rss_mb"].iloc[-1] - memory["peak_rss_mb"].iloc[0]
print(f"peak RSS grows by {growth:.0f} MB while the store grows by "
      f"{memory['store_mb'].iloc[-1] - memory['store_mb'].iloc[0]:.0f} MB (half precision on disk)")
memory.round(1)

# %% [markdown]
# ## Reading
#
# This reading was checked against a cold `make book` build of the mini profile (1 200 train /
# 300 test samples, at most 20 epochs); the tables above are this build's own measurements and
# are what counts if a changed setting makes the two differ.
#
# - **L1 → L4: no plateau, but not for the seeds' reason.** The three bottleneck adapters
#   gain little from L2 to L3, as the seeds found, but the attention adapter L4 is far ahead of
#   them (about twice L1's top-1 and free tokens). L4 is the only per-position adapter that sees
#   earlier positions; in the mini world context matters more than width. The seeds' conclusion
#   that capacity does not help is not contradicted for the bottlenecks, and is for L4.
# - **Free tokens are fewer than the seeds'.** Same-position top-1 is higher than the seeds', yet
#   the run of matches from the answer's start is shorter: one early mismatch ends phase 1.
# - **B1 ≫ L5.** Predicting the target's next state from its own states is much easier than from
#   the draft's, as in the seeds; the mini answers are templated, so B1 and L5F reach shifted
#   top-1 rates far above the seeds' 41 % and 36 %.
# - **L5F against B1: a small edge, mostly at the start.** L5F is ahead on accept@0.90 and on the
#   first window, the two numbers the seeds used for their claim, but per round along the whole
#   answer the two heads are within a few hundredths of a draft, free-running. The event stream
#   helps where the target has produced little yet; later the target's own states carry what it
#   adds.
# - **Teacher-forced scores overstate drafting.** Free-running, B1 loses about a quarter of its
#   first-window streak and L5F about a sixth; per round the gap is smaller, because windows in the
#   templated middle of an answer are easy either way. L5 reads no target state, so its two
#   columns are identical, as they must be. The seeds' α (0.73 for L5F) is a teacher-forced
#   first-window number; the live decoder and an honest proxy should use the free-running
#   per-round value.
