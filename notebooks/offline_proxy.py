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
# # The two-phase decoder, estimated offline
#
# The study's headline speedups (1.54–1.56×) come from an offline cost model, not from running a
# decoder: acceptance measured on stored hidden states, combined with fixed timing constants.
# This notebook takes that model apart in three steps:
#
# 1. the seeds' six configurations with the seeds' own constants — can their numbers be recomputed?
# 2. the same model fed with the mini models' **measured** timings and acceptance;
# 3. an honest cost model (`costmodel.honest_two_phase`) that charges everything the live decoder
#    pays: verifying γ + 1 positions costs more than one decode step, every round runs γ head
#    steps, and L5F needs the draft VLM's state for each position, which the draft must produce.
#
# The *live wall-clock* study then runs the decoder itself.

# %% tags=["parameters"]
profile = "mini"
gamma = 3  # draft tokens per round for the honest model (the live study sweeps it)

# %%
import pandas as pd

from xsd import adapter_eval, costmodel, results, seeds
from xsd.adapters import PER_POSITION
from xsd.config import load_profile

settings = load_profile(profile)

# %% [markdown]
# ## 1. The seeds' configurations, with the seeds' constants
#
# T_base = P_vl + N·D_vl; T_sd = max(P_vl, P_egpt + A) + ((N − free)/(α + 1))·(D_vl + A), with
# N = 50, P_vl = 310 ms, P_egpt = 130 ms, D_vl = 25 ms, A = 1.5 ms.

# %%
constants = seeds.TWO_PHASE_CONSTANTS
rows = []
for config in seeds.TWO_PHASE_CONFIGS:
    value = costmodel.two_phase_speedup(
        n_tokens=constants["n_tokens"], free_tokens=config["free_tokens"], alpha_decode=config["alpha_decode"],
        t_vl_prefill=constants["t_vl_prefill"], t_vl_decode=constants["t_vl_decode"],
        t_adapter=constants["t_adapter"], t_egpt_prefill=constants["t_egpt_prefill"])
    rows.append({"config": config["config"], "seeds": config["speedup"], "recomputed": round(value, 3),
                 "difference": round(value - config["speedup"], 3) + 0.0})
pd.DataFrame(rows).set_index("config")

# %% [markdown]
# Four of six agree to the printed precision; L1+L5F and L2+L5F come out 0.006–0.007 lower
# (see the *speed ratio* study for why per-sample averaging is the likely cause).

# %% [markdown]
# ## 2. The same model with the mini models' measurements
#
# Timings come from the stage benchmark of the *world & models* study; free tokens (consecutive
# same-position matches from t = 0 within 7 slots) and the decode α (the accepted run of the
# first γ = 5 window, teacher-forced — the seeds' definition) from the *feature adapters* study.
# A is the measured cost of one L5F head step. All mini-world numbers.

# %% tags=["nbval-ignore-output"]
timings = results.stage_timings(settings)
evaluated = {row["adapter"]: row for row in adapter_eval.evaluate_profile(settings)}
# a metric with nothing to measure (e.g. answers too short for one window) is NaN; count it as 0
evaluated = {name: {k: (0.0 if isinstance(v, float) and v != v else v) for k, v in row.items()}
             for name, row in evaluated.items()}
bench = results.decode_benchmark(settings)
costs = bench["costs"]
n_tokens = settings.extract.max_new_tokens
measured = {
    "P_vl (target vision + prefill)": costs["prefill_s"] * 1000,
    "P_egpt (draft vision + prefill)": timings["draft"]["prefill_with_vision"],
    "D_vl (target decode step)": costs["decode_s"] * 1000,
    "D_egpt (draft decode step)": timings["draft"]["decode_per_token"],
    "A (L5F head step)": costs["head_step_s"]["L5F"] * 1000,
    f"t_verify({gamma + 1}) (verify γ + 1 positions)": costs["verify_s"][str(gamma + 1)] * 1000,
}
pd.Series(measured, name=f"{profile}, ms").round(3).to_frame()

# %% tags=["nbval-ignore-output"]
def proxy(free, alpha):
    return costmodel.two_phase_speedup(
        n_tokens=n_tokens, free_tokens=min(free, n_tokens), alpha_decode=alpha, t_vl_prefill=costs["prefill_s"],
        t_vl_decode=costs["decode_s"], t_adapter=costs["head_step_s"]["L5F"],
        t_egpt_prefill=timings["draft"]["prefill_with_vision"] / 1000)


l5f_alpha = evaluated["L5F"]["teacher_forced_first_window"]
b1_alpha = evaluated["B1"]["teacher_forced_first_window"]
configs = [(f"{name}+L5F", evaluated[name]["prefill_free_tokens"], l5f_alpha) for name in PER_POSITION]
configs += [("L5F-only", 0.0, l5f_alpha), ("B1-only", 0.0, b1_alpha)]
seeds_by_config = {c["config"]: c["speedup"] for c in seeds.TWO_PHASE_CONFIGS}
mini_proxy = pd.DataFrame([{"config": name, "free tokens": round(free, 2), "decode α": round(alpha, 3),
                            f"proxy ({profile})": round(proxy(free, alpha), 3), "seeds": seeds_by_config[name]}
                           for name, free, alpha in configs]).set_index("config")
mini_proxy

# %% [markdown]
# ## 3. The honest cost model
#
# Same inputs, but every cost charged: the autoregressive baseline needs N − 1 decode steps after
# the prefill (the prefill already yields token 0); phase 1 costs one verify forward; each phase-2
# round costs t_verify(γ + 1) + γ·A and yields τ tokens; and with L5F a round cannot be shorter
# than the time the draft VLM needs to produce the τ event states it consumes. Here τ comes from
# the *free-running* acceptance (the head reads its own predictions, as live), as 1 + the mean
# accepted run per round.

# %% tags=["nbval-ignore-output"]
def honest(free, head_name, concurrent=True):
    tau = 1 + evaluated[head_name]["free_running_rounds"]
    return costmodel.honest_two_phase(
        n_tokens=n_tokens, free_tokens=max(free - 1, 0.0), tau=tau, gamma=gamma,
        t_vl_prefill=costs["prefill_s"], t_vl_decode=costs["decode_s"],
        t_verify_phase1=costs["verify_s"][str(gamma + 1)],  # the phase-1 candidates: a few positions too
        t_verify=costs["verify_s"][str(gamma + 1)], t_head=costs["head_step_s"][head_name],
        t_egpt_prefill=timings["draft"]["prefill_with_vision"] / 1000,
        t_egpt_decode=timings["draft"]["decode_per_token"] / 1000 if head_name == "L5F" else 0.0,
        concurrent=concurrent)


rows = []
for name, free, _ in configs:
    head_name = "B1" if name == "B1-only" else "L5F"
    two_cores, one_core = honest(free, head_name), honest(free, head_name, concurrent=False)
    rows.append({"config": name, f"proxy ({profile})": mini_proxy.loc[name, f"proxy ({profile})"],
                 "honest, 2 cores": round(two_cores["speedup"], 3), "honest, 1 core": round(one_core["speedup"], 3),
                 "draft-bound": two_cores["draft_bound"], "τ (free-running)": round(1 + evaluated[head_name]["free_running_rounds"], 2)})
honest_table = pd.DataFrame(rows).set_index("config")
honest_table

# %% [markdown]
# The phase-1 free tokens enter the honest model as `free − 1`: a match at position 0 only
# confirms the token the target's prefill produces anyway; every further match saves a decode
# step. On one core the draft VLM's whole generation adds to the target's time, which is what the
# seeds' setting of one GPU running both models sequentially would pay.

# %% tags=["nbval-ignore-output"]
best = honest_table["honest, 2 cores"].idxmax()
print(f"best configuration under the honest model: {best} at {honest_table.loc[best, 'honest, 2 cores']:.2f}× "
      f"(proxy: {honest_table.loc[best, f'proxy ({profile})']:.2f}×)")
gap = (honest_table[f"proxy ({profile})"] - honest_table["honest, 2 cores"]).mean()
print(f"mean overestimate of the proxy against the honest model: {gap:+.2f}×")

# %% [markdown]
# **Reading.** The proxy's optimism has three sources, each visible above: it prices a verify
# forward over γ + 1 positions like a single decode step, it forgets the head's own cost per
# drafted token, and it counts the teacher-forced α, which a live drafter (reading its own
# predictions) does not reach. The *live wall-clock* study measures what remains.
