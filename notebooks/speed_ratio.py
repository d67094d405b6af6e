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
# # The speed ratio c ≈ 1
#
# Classic speculative decoding (SD) pays for every drafted token with a draft step that costs
# a fraction c = T_draft / T_target of a target step, and wins only when enough of those drafts
# are accepted. The study's draft (EventGPT) and target (Video-LLaVA) share a Vicuna-7B backbone,
# so they decode at nearly the same speed: the seeds measured 14 ms against 15 ms per token,
# c ≈ 0.93. This notebook works out what that means with the formulas of `xsd.costmodel` (the
# book's *Methods* page, §4), recomputes every figure the seeds derived from them, and says
# plainly where the seeds' arithmetic and the formulas part ways. Every reading below is computed
# from the tables above it: a recomputed figure *agrees* with the seeds' when, printed with as
# many decimals as theirs, it reads the same (`xsd.readings.agrees_at_precision`).
#
# Everything here is theory applied to the seeds' own timings, except `measured_c`: when the
# book is built, it is filled from the mini models' stage benchmark (the *world & models*
# study); otherwise it keeps the seeds' 0.93. A reader can measure both models on their own
# machine (`xsd bench stages --json stages.json`, e.g. with `--device cuda --profile shapes`) and
# pass the file as `stages_file`: c then comes from it, and section 4 adds the prefill window
# those timings open, labelled with where they were measured.

# %% tags=["parameters"]
profile = "mini"
measured_c = 0.93  # T_draft_decode / T_target_decode used by every c-dependent cell below
measured_c_source = "seeds: 14 ms / 15 ms per token (sd_pipeline_c_analysis.md)"
gamma = 5  # draft tokens per SD round, as in the seeds' example
max_gamma = 32  # largest γ searched by optimal_gamma
stages_file = ""  # a stages file (`xsd bench stages --json`) from any machine: c and a prefill window from it

# %%
import matplotlib.pyplot as plt

from xsd import plotting, readings
from xsd.config import load_profile
from xsd.studies import speed_ratio as study
from xsd.studies.costs_file import load_stages

plotting.use_style()
settings = load_profile(profile)
stages = load_stages(stages_file) if stages_file else None
measured_c, measured_c_source = study.c_used(stages, measured_c, measured_c_source)  # a stages file's c replaces it
print(f"profile: {settings.name}; c = {measured_c:.3f} ({measured_c_source}); γ = {gamma}")

# %% [markdown]
# ## 1. The seeds' worked example
#
# With the TokenAdapter's acceptance α = 0.279, γ = 5 and c = 0.93, the seeds computed the
# expected tokens per round E(α, γ) = (1 − α^(γ+1)) / (1 − α), the speedup S = E / (1 + c·γ)
# and the acceptance rate SD would need to break even.

# %%
alpha0, c0 = study.EXAMPLE["alpha"], study.EXAMPLE["c"]
study.example_table()

# %%
print("\n".join(study.break_even_lines()))

# %%
readings.show(*study.example_reading())

# %% [markdown]
# ## 2. Speedup over acceptance and speed ratio
#
# The heat map shows S(α, γ, c) at fixed γ; the white line is S = 1. Classic SD lives in the
# lower-right corner: a draft much cheaper than the target and accepted most of the time.

# %%
alphas, cs = study.HEATMAP_ALPHAS, study.HEATMAP_CS
speedup = study.speedup_grid(gamma, alphas, cs)
fig, ax = plt.subplots(figsize=(7, 4.8))
mesh = ax.pcolormesh(alphas, cs, speedup, cmap="viridis", shading="auto", vmax=3)
ax.contour(alphas, cs, speedup, levels=[1.0], colors="white", linewidths=2)
ax.plot(alpha0, c0, "o", color="tab:red", label=f"seeds: α = {alpha0}, c = {c0}")
ax.axhline(measured_c, color="tab:orange", ls="--", label=f"c used here = {measured_c:.2f}")
ax.set(xlabel="acceptance rate α", ylabel="speed ratio c = T_draft / T_target",
       title=f"classic SD speedup at γ = {gamma} (white: S = 1)")
fig.colorbar(mesh, ax=ax, label="speedup (clipped at 3×)")
ax.legend(loc="upper left")
print("figure:", plotting.save(fig, "speed_ratio_heatmap"))

# %% [markdown]
# The break-even acceptance for a few speed ratios — an EAGLE-style head has c of a few percent —
# and for the c used here; empty where no α breaks even.

# %%
c_values = study.c_values(measured_c)
required_table = study.required_alpha_table(c_values)
required_table

# %%
readings.show(*study.required_alpha_reading(required_table, measured_c))

# %% [markdown]
# ## 3. The best γ
#
# For each α, `optimal_gamma` picks the γ with the highest speedup; the reading under the figure
# says, for each c, over how much of the α grid (0.05–0.98) the best γ is 1 and SD beats the
# target alone.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for c, (best, best_speedup) in study.optimal_gamma_curves(c_values, max_gamma).items():
    left.step(study.ALPHA_GRID, best, where="mid", label=f"c = {c}")
    right.plot(study.ALPHA_GRID, best_speedup, label=f"c = {c}")
right.axhline(1.0, color="black", lw=1)
left.set(xlabel="α", ylabel="optimal γ", title="optimal draft length", yscale="log")
right.set(xlabel="α", ylabel="speedup at optimal γ", title="best achievable classic SD speedup", yscale="log")
left.legend()
print("figure:", plotting.save(fig, "speed_ratio_optimal_gamma"))

# %%
print("\n".join(study.optimal_at_lines(alpha0, c_values, max_gamma)))

# %%
readings.show(study.optimal_gamma_reading(c_values, max_gamma))

# %% [markdown]
# ## 4. The prefill window
#
# The draft's other advantage, in the seeds' timings, is its prefill: EventGPT reads one event
# frame, Video-LLaVA eight video frames, so the draft finishes its prefill first (97 ms against
# 470 ms) and can decode while the target is still prefilling. The seeds counted the tokens that
# fit in that window and multiplied by α to get "accepted" tokens. Under SD only an unbroken
# prefix of drafts is accepted: with per-token acceptance α the expected accepted prefix of n
# drafts is α + α² + … + αⁿ = E(α, n) − 1.

# %%
study.prefill_window_table()

# %%
print("\n".join(study.prefill_window_lines(alpha0)))

# %%
readings.show(study.prefill_window_reading(alpha0))

# %% [markdown]
# A verifier keeps only an unbroken prefix, so phase 1 pays only with a mapping whose *first*
# tokens are right; the later studies therefore measure free tokens as consecutive matches from the
# start of the answer, as the seeds' training_eval_results.md does (7 slots in a 180 ms window).

# %%
# with a stages file: the same window from both models' timings on the file's machine (nothing otherwise)
if stages is not None:
    print("\n".join(study.measured_window_lines(stages, alpha0)))
    display(study.measured_window_table(stages))

# %% [markdown]
# ## 5. The seeds' two-phase offline proxy
#
# The seeds estimated the two-phase decoder (phase 1: drafts made during the target's prefill;
# phase 2: L5F drafting) with the cost model `costmodel.two_phase_speedup`:
# T_base = P_vl + N·D_vl and T_sd = max(P_vl, P_egpt + A) + ((N − free)/(α + 1))·(D_vl + A),
# with N = 50, P_vl = 310 ms, P_egpt = 130 ms, D_vl = 25 ms and A = 1.5 ms. Here are their six
# configurations recomputed from the inputs they report.

# %%
study.two_phase_table()

# %%
# reading: agreement at the seeds' printed precision (one decimal for iterations, two for speedups)
readings.show(study.two_phase_reading())

# %% [markdown]
# Besides, the proxy charges one target decode step for verifying γ + 1 positions, nothing for
# the draft model's own decoding (L5F consumes EventGPT hidden states that someone must compute),
# and counts fractional rounds. The *two-phase offline proxy* and *live wall-clock* studies
# replace those assumptions with measurements.

# %% [markdown]
# ## 6. With the measured speed ratio
#
# Every c-dependent number above used the parameter `measured_c`. The summary for it:

# %%
print("\n".join(study.summary_lines(measured_c, measured_c_source, gamma, alpha0, max_gamma)))

# %%
# reading: the c used here against the TokenAdapter's rates in the seeds (top-1 0.279, top-5 0.516)
readings.show(*study.summary_reading(measured_c, gamma, alpha0, max_gamma))
