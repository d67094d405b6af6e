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
import numpy as np
import pandas as pd

from xsd import costmodel, plotting, readings, seeds
from xsd.config import load_profile
from xsd.studies.costs_file import load_stages, prefill_window, stages_c

plotting.use_style()
settings = load_profile(profile)
stages = load_stages(stages_file) if stages_file else None
if stages is not None:  # the file's c replaces measured_c
    measured_c, measured_c_source = stages_c(stages)
print(f"profile: {settings.name}; c = {measured_c:.3f} ({measured_c_source}); γ = {gamma}")

# %% [markdown]
# ## 1. The seeds' worked example
#
# With the TokenAdapter's acceptance α = 0.279, γ = 5 and c = 0.93, the seeds computed the
# expected tokens per round E(α, γ) = (1 − α^(γ+1)) / (1 − α), the speedup S = E / (1 + c·γ)
# and the acceptance rate SD would need to break even.

# %%
example = seeds.CLASSIC_SD_EXAMPLE
alpha0, gamma0, c0 = example["alpha"], example["gamma"], example["c"]
recomputed = {
    "expected tokens per round E(α, γ)": (example["expected_tokens"], costmodel.expected_tokens(alpha0, gamma0)),
    "tokens needed to break even, 1 + c·γ": (example["tokens_needed"], 1 + c0 * gamma0),
    "speedup S(α, γ, c)": (example["speedup"], costmodel.sd_speedup(alpha0, gamma0, c0)),
    "required α for S ≥ 1": (example["required_alpha"], costmodel.required_alpha(gamma0, c0)),
}
table = pd.DataFrame(
    [(name, str(stated), round(value, 4)) for name, (stated, value) in recomputed.items()],
    columns=["quantity", "seeds state", "formula gives"],
)
table

# %%
required = costmodel.required_alpha(gamma0, c0)
at_95 = costmodel.sd_speedup(0.95, gamma0, c0)
print(f"E(α, γ) needed: {1 + c0 * gamma0:.2f} tokens per round")
print(f"smallest α reaching it: {required:.4f}  (seeds: α > 0.95)")
print(f"at α = 0.95 the speedup is {at_95:.3f}× — {'still below' if at_95 < 1 else 'at least'} 1")

# %%
# reading: which of the seeds' figures their own formula gives, at the precision they printed
derived = {"expected tokens per round": "expected tokens per round E(α, γ)",
           "break-even count 1 + c·γ": "tokens needed to break even, 1 + c·γ", "speedup": "speedup S(α, γ, c)"}
held, slipped = [], []
for name, key in derived.items():
    stated, value = recomputed[key]
    decimals = readings.decimals_of(stated)
    if readings.agrees_at_precision(value, stated):
        held.append(f"the {name} ({stated})")
    else:
        units = round((round(value, decimals) - stated) * 10 ** decimals)
        slip = " — one unit of their last digit" if abs(units) == 1 else ""
        slipped.append(f"the {name} is {value:.4f}, {readings.at_precision(value, decimals)} at their "
                       f"{readings.number_word(decimals)} decimals, not {stated}{slip}")
speedup0 = recomputed["speedup S(α, γ, c)"][1]
text = [f"**Where the seeds differ from their own formula.** "
        + (f"The formula gives {readings.join(held)} as the seeds state. " if held else "")
        + (f"It does not give the rest: {'; '.join(slipped)}." if slipped else "")]
required_text = (f"The required acceptance: solving E(α, {gamma0}) = {1 + c0 * gamma0:.2f} gives α ≈ {required:.3f}, ")
if required > 0.95:
    required_text += (f"not \"α > 0.95\" — at α = 0.95 SD gives {at_95:.3f}×, {readings.speedup_phrase(at_95)}.")
else:
    required_text += "which the seeds' \"α > 0.95\" covers."
text.append(required_text)
if speedup0 < 1:
    text.append(f"The seeds' conclusion (classic SD cannot win at c = {c0}) stands"
                + (", and the bar is higher than they wrote." if required > 0.95 else "."))
claimed = example["claimed_speedup_literature_table"]
if readings.agrees_at_precision(recomputed["expected tokens per round E(α, γ)"][1], claimed):
    text.append(f"Their literature table also lists \"{claimed}×\" as the validated speedup of the TokenAdapter; "
                f"{claimed} is the expected number of tokens per round, not a speedup — the speedup at that "
                f"acceptance is {speedup0:.2f}×.")
readings.show(*text)

# %% [markdown]
# ## 2. Speedup over acceptance and speed ratio
#
# The heat map shows S(α, γ, c) at fixed γ; the white line is S = 1. Classic SD lives in the
# lower-right corner: a draft much cheaper than the target and accepted most of the time.

# %%
alphas = np.linspace(0.0, 1.0, 201)
cs = np.linspace(0.0, 1.2, 241)
speedup = np.array([[costmodel.sd_speedup(a, gamma, c) for a in alphas] for c in cs])

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
c_values = sorted({0.05, 0.1, 0.3, 0.6, round(measured_c, 3)})
rows = []
for c in c_values:
    for g in (1, 2, 3, 5, 8):
        try:
            rows.append({"c": c, "γ": g, "required α": round(costmodel.required_alpha(g, c), 4)})
        except ValueError:
            rows.append({"c": c, "γ": g, "required α": None})
required_table = pd.DataFrame(rows).pivot(index="c", columns="γ", values="required α")
required_table

# %%
# reading: the rise with c, column by column, and each row's range
rises = all(column.dropna().is_monotonic_increasing for _, column in required_table.items())
lines = []
for c, row in required_table.iterrows():
    known = row.dropna()
    if known.empty:
        lines.append(f"- c = {c:g}: no α breaks even at any γ")
        continue
    near = " — near 1" if known.min() >= 0.9 else ""
    missing = f" (none at γ = {readings.join(int(g) for g in row.index[row.isna()])})" if len(known) < len(row) else ""
    lines.append(f"- c = {c:g}: α ≥ {known.min():.2f} to {known.max():.2f} across γ = "
                 f"{readings.join(int(g) for g in known.index)}{missing}{near}"
                 + (" (the c used here)" if c == round(measured_c, 3) else ""))
readings.show(f"The break-even acceptance {'rises' if rises else 'does not rise'} with c at every γ:",
              "\n".join(lines))

# %% [markdown]
# ## 3. The best γ
#
# For each α, `optimal_gamma` picks the γ with the highest speedup; the reading under the figure
# says, for each c, over how much of the α grid (0.05–0.98) the best γ is 1 and SD beats the
# target alone.

# %%
alpha_grid = np.linspace(0.05, 0.98, 94)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for c in c_values:
    best = [costmodel.optimal_gamma(a, c, max_gamma) for a in alpha_grid]
    best_speedup = [costmodel.sd_speedup(a, g, c) for a, g in zip(alpha_grid, best)]
    left.step(alpha_grid, best, where="mid", label=f"c = {c}")
    right.plot(alpha_grid, best_speedup, label=f"c = {c}")
right.axhline(1.0, color="black", lw=1)
left.set(xlabel="α", ylabel="optimal γ", title="optimal draft length", yscale="log")
right.set(xlabel="α", ylabel="speedup at optimal γ", title="best achievable classic SD speedup", yscale="log")
left.legend()
print("figure:", plotting.save(fig, "speed_ratio_optimal_gamma"))

# %%
for c in c_values:
    g = costmodel.optimal_gamma(alpha0, c, max_gamma)
    print(f"α = {alpha0}, c = {c}: optimal γ = {g}, speedup {costmodel.sd_speedup(alpha0, g, c):.3f}×")

# %%
# reading: shares of the α grid, per c
lines = []
for c in c_values:
    best = [costmodel.optimal_gamma(a, c, max_gamma) for a in alpha_grid]
    wins = [a for a, g in zip(alpha_grid, best) if costmodel.sd_speedup(a, g, c) > 1]
    longer = [g for a, g in zip(alpha_grid, best) if g > 1 and costmodel.sd_speedup(a, g, c) > 1]
    line = (f"- c = {c:g}: the best γ is 1 for {sum(g == 1 for g in best) / len(best):.0%} of the α grid; SD beats "
            f"the target alone for {len(wins) / len(alpha_grid):.0%} of it")
    line += f", from α ≈ {min(wins):.2f}" if wins else ""
    line += (f"; rounds longer than one draft pay up to γ = {max(longer)}"
             + (" (the largest γ searched)" if max(longer) == max_gamma else "")) if longer else "; no longer round pays"
    lines.append(line)
readings.show("\n".join(lines))

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
window = seeds.PREFILL_WINDOW_SD_PIPELINE
slots = costmodel.prefill_window_slots(
    t_vl_prefill=window["t_vl_prefill"], t_egpt_prefill=window["t_egpt_prefill"],
    t_egpt_decode=window["t_egpt_decode"],
)
rows = []
for alpha, stated in window["accepted"].items():
    rows.append({
        "α": alpha,
        "window (ms)": window["t_vl_prefill"] - window["t_egpt_prefill"],
        "draft tokens in window": slots,
        "seeds: accepted": stated,
        "n·α (the seeds' count)": round(slots * alpha, 2),
        "accepted prefix under SD": round(costmodel.expected_tokens(alpha, slots) - 1, 3),
    })
pd.DataFrame(rows)

# %%
n = window["n_tokens"]
t_ar = window["t_vl_prefill"] + n * window["t_vl_decode"]
prefix = costmodel.expected_tokens(0.279, slots) - 1
t_seeds = window["t_vl_prefill"] + (n - window["accepted"][0.279]) * window["t_vl_decode"]
t_prefix = window["t_vl_prefill"] + (n - prefix) * window["t_vl_decode"]
print(f"AR, {n} tokens: {t_ar:.0f} ms (seeds: {window['t_ar_total']:.0f} ms)")
print(f"parallel prefill + AR, seeds' count: {t_seeds:.0f} ms -> {t_ar / t_seeds:.3f}× (seeds: {window['t_parallel_ar_total']:.0f} ms, 1.08×)")
print(f"parallel prefill + AR, accepted prefix: {t_prefix:.0f} ms -> {t_ar / t_prefix:.3f}×")

# %%
# reading: the window, the accepted prefix against the seeds' n·α, and their own arithmetic
saving_seeds, saving_prefix = 1 - t_seeds / t_ar, 1 - t_prefix / t_ar
stated_speedup = window["speedup_stated"]
arithmetic = (f"as their summary table says" if readings.agrees_at_precision(t_ar / t_seeds, stated_speedup)
              else f"not the {stated_speedup}× of their summary table")
readings.show(
    f"The window of {window['t_vl_prefill'] - window['t_egpt_prefill']:.0f} ms holds {slots} draft tokens, but "
    f"counting n·α accepted tokens treats every correct draft as usable. A verifier accepts drafts only up to the "
    f"first mismatch, so at the TokenAdapter's α = {alpha0} the window yields {prefix:.2f} tokens, not "
    f"{window['accepted'][0.279]}, and the seeds' saving of {saving_seeds:.1%} becomes {saving_prefix:.2%}"
    + (" — under 1 %." if saving_prefix < 0.01 else ".")
    + f" (Their own arithmetic: {t_ar:.0f} ms against {t_seeds:.0f} ms is {t_ar / t_seeds:.3f}×, {arithmetic}.)")

# %% [markdown]
# A verifier keeps only an unbroken prefix, so phase 1 pays only with a mapping whose *first*
# tokens are right; the later studies therefore measure free tokens as consecutive matches from the
# start of the answer, as the seeds' training_eval_results.md does (7 slots in a 180 ms window).

# %%
# with a stages file: the same window from both models' timings on the file's machine (nothing otherwise)
if stages is not None:
    own = prefill_window(stages)
    own_slots = costmodel.prefill_window_slots(
        t_vl_prefill=own["t_vl_prefill"], t_egpt_prefill=own["t_egpt_prefill"], t_egpt_decode=own["t_egpt_decode"])
    print(f"prefill window measured on {own['measured_on']}:")
    print(f"  target vision + prefill {own['t_vl_prefill']:.1f} ms ({own['target_visual_tokens']} visual tokens), "
          f"draft {own['t_egpt_prefill']:.1f} ms ({own['draft_visual_tokens']}); decode step: target "
          f"{own['t_vl_decode']:.2f} ms, draft {own['t_egpt_decode']:.2f} ms")
    if own["window_ms"] > 0:
        relation = "more than" if own_slots > slots else "fewer than" if own_slots < slots else "as many as"
        print(f"  the window of {own['window_ms']:.1f} ms holds {own_slots} draft tokens, {relation} the seeds' "
              f"{slots} in {window['t_vl_prefill'] - window['t_egpt_prefill']:.0f} ms")
    else:
        print(f"  no window: the draft's prefill takes {-own['window_ms']:.1f} ms longer than the target's")
    own_prefix = {alpha: costmodel.expected_tokens(alpha, own_slots) - 1 if own_slots else 0.0
                  for alpha in window["accepted"]}
    own_ar = own["t_vl_prefill"] + n * own["t_vl_decode"]
    own_parallel = own["t_vl_prefill"] + (n - own_prefix[alpha0]) * own["t_vl_decode"]
    print(f"  AR, {n} tokens: {own_ar:.1f} ms; parallel prefill + AR with the accepted prefix at α = {alpha0}: "
          f"{own_parallel:.1f} ms -> {own_ar / own_parallel:.3f}× (seeds' timings: {t_ar / t_prefix:.3f}×)")
    display(pd.DataFrame([{"α": alpha, "draft tokens in window": own_slots,
                           "n·α (the seeds' count)": round(own_slots * alpha, 2),
                           "accepted prefix under SD": round(prefix, 3)} for alpha, prefix in own_prefix.items()]))

# %% [markdown]
# ## 5. The seeds' two-phase offline proxy
#
# The seeds estimated the two-phase decoder (phase 1: drafts made during the target's prefill;
# phase 2: L5F drafting) with the cost model `costmodel.two_phase_speedup`:
# T_base = P_vl + N·D_vl and T_sd = max(P_vl, P_egpt + A) + ((N − free)/(α + 1))·(D_vl + A),
# with N = 50, P_vl = 310 ms, P_egpt = 130 ms, D_vl = 25 ms and A = 1.5 ms. Here are their six
# configurations recomputed from the inputs they report.

# %%
constants = seeds.TWO_PHASE_CONSTANTS
rows = []
for config in seeds.TWO_PHASE_CONFIGS:
    value = costmodel.two_phase_speedup(
        n_tokens=constants["n_tokens"], free_tokens=config["free_tokens"],
        alpha_decode=config["alpha_decode"], t_vl_prefill=constants["t_vl_prefill"],
        t_vl_decode=constants["t_vl_decode"], t_adapter=constants["t_adapter"],
        t_egpt_prefill=constants["t_egpt_prefill"],
    )
    iterations = (constants["n_tokens"] - config["free_tokens"]) / (config["alpha_decode"] + 1)
    rows.append({
        "config": config["config"], "free tokens": config["free_tokens"], "decode α": config["alpha_decode"],
        "iterations (seeds)": config["decode_iters"], "iterations (recomputed)": round(iterations, 2),
        "speedup (seeds)": config["speedup"], "speedup (recomputed)": round(value, 3),
        "difference": round(value - config["speedup"], 3) + 0.0,  # + 0.0 turns -0.0 into 0.0
    })
proxy = pd.DataFrame(rows)
proxy

# %%
# reading: agreement at the seeds' printed precision (one decimal for iterations, two for speedups)
def disagreements(stated_column, precise):
    return readings.off_at_precision({r["config"]: (r[stated_column], precise(r)) for _, r in proxy.iterrows()})


def exact_iterations(r):
    return (constants["n_tokens"] - r["free tokens"]) / (r["decode α"] + 1)


def exact_speedup(r):
    return costmodel.two_phase_speedup(
        n_tokens=constants["n_tokens"], free_tokens=r["free tokens"], alpha_decode=r["decode α"],
        t_vl_prefill=constants["t_vl_prefill"], t_vl_decode=constants["t_vl_decode"],
        t_adapter=constants["t_adapter"], t_egpt_prefill=constants["t_egpt_prefill"])


n_configs = len(proxy)
text = []
for what, stated_column, precise, digits in (("iteration counts", "iterations (seeds)", exact_iterations, 2),
                                            ("speedups", "speedup (seeds)", exact_speedup, 3)):
    off = disagreements(stated_column, precise)
    sentence = (f"The {what} agree with the seeds' at their printed precision in "
                f"{readings.count_phrase(n_configs - len(off), n_configs)} configurations")
    if off:
        sentence += ("; not in " + readings.join(f"{name} ({value:.{digits}f} against {stated})"
                                                 for name, stated, value in off))
    text.append(sentence + ".")
off_speedups = disagreements("speedup (seeds)", exact_speedup)
low = [name for name, stated, value in off_speedups if value < stated]
high = [name for name, stated, value in off_speedups if value > stated]
free_grid = np.linspace(0.0, 6.0, 61)
curve = [exact_speedup({"free tokens": f, "decode α": 0.73}) for f in free_grid]
convex = all(a + b - 2 * m > -1e-12 for a, m, b in zip(curve, curve[1:], curve[2:]))
if low or high:
    cause = ("Rounding the recomputed speedup does not give the seeds' figure. Averaging per-sample speedups "
             "instead of applying the formula to the mean free tokens would "
             + ("raise the result (the speedup is convex in the free tokens, checked here on 0–6 free tokens at "
                "α = 0.73)" if convex else "not simply raise the result (the speedup is not convex in the free tokens)"))
    if convex and low and not high:
        cause += f", which fits {readings.join(low)}, recomputed lower than reported"
    elif convex and high:
        cause += f", which does not fit {readings.join(high)}, recomputed higher than reported"
    text.append(cause + "; the seeds publish no per-sample data to check it.")
readings.show(" ".join(text))

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
try:
    needed = costmodel.required_alpha(gamma, measured_c)
    verdict = f"classic SD at γ = {gamma} needs α ≥ {needed:.3f}"
except ValueError as error:
    verdict = f"classic SD can never win: {error}"
best = costmodel.optimal_gamma(alpha0, measured_c, max_gamma)
print(f"c = {measured_c:.3f} ({measured_c_source})")
print(verdict)
print(f"at the TokenAdapter's α = {alpha0}: best γ = {best}, speedup {costmodel.sd_speedup(alpha0, best, measured_c):.3f}×")

# %%
# reading: the c used here against the TokenAdapter's rates in the seeds (top-1 0.279, top-5 0.516)
top1, top5 = seeds.TOKEN_LEVEL["token_adapter_top1_test"], seeds.TOKEN_LEVEL["token_adapter_top5_test"]
at_alpha0 = costmodel.sd_speedup(alpha0, best, measured_c)
text = f"**Reading.** {readings.c_phrase(measured_c)}. "
try:
    needed = costmodel.required_alpha(gamma, measured_c)
    if needed > top5:
        reach = f"above even the seeds' top-5 bound of {top5}"
    elif needed > top1:
        reach = f"above the seeds' TokenAdapter top-1 of {top1}, within its top-5 bound of {top5}"
    else:
        reach = f"within reach of the seeds' TokenAdapter top-1 of {top1}"
    text += f"Classic SD at γ = {gamma} needs α ≥ {needed:.3f}, {reach}. "
except ValueError:
    text += f"No acceptance rate lets classic SD break even at γ = {gamma}. "
text += (f"At α = {alpha0} the best γ = {best} gives {at_alpha0:.3f}×, {readings.speedup_phrase(at_alpha0)}.")
if round(at_alpha0, 3) < 1:
    design = ("With classic SD losing at this c, the draft model is worth running for what it does *before* the "
              "target can decode — its short prefill — and for the hidden states it produces, which a cheap head "
              "(c of a few percent) can turn into drafts. That is the design the rest of this book measures.")
else:
    design = ("At this c classic SD with the full draft model would pay at the TokenAdapter's rate; the rest of "
              "this book measures the study's design all the same: the draft's short prefill and its hidden "
              "states, turned into drafts by a cheap head.")
readings.show(text, design)
