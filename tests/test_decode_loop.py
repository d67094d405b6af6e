"""The verification loop is lossless: greedy output equals the target's own greedy output, and
sampled output follows the target's own distribution."""
import itertools

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from xsd.adapters import create_adapter
from xsd.decode import EgptFeed, HeadDrafter, PrefillCandidates, Proposal, Target, TwoPhaseDrafter, speculative_generate
from xsd.decode.drafters import _Fixed

VOCAB, HIDDEN = 64, 32


def tiny_llama(vocab: int, seed: int, sharpen: float) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # sharper logits than the default init: fewer near-ties
        model.lm_head.weight.mul_(sharpen)
    return model


@pytest.fixture(scope="module")
def model():
    return tiny_llama(VOCAB, seed=0, sharpen=20)


def _prompt(seed, length=6):
    return torch.randint(3, VOCAB, (1, length), generator=torch.Generator().manual_seed(seed))


def _reference(model, prompt, max_new_tokens, eos=None):
    out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=max_new_tokens,
                         do_sample=False, eos_token_id=eos, pad_token_id=0)
    return out[0, prompt.shape[1]:].tolist()


def _head(model, name="B1", seed=0):
    torch.manual_seed(seed)
    return create_adapter(name, HIDDEN, heads=2)


class ScriptedDrafter:
    """Proposes from a fixed script of tokens (a perfect or a hopeless drafter)."""

    def __init__(self, script, gamma):
        self.script, self.gamma = script, gamma

    def first_proposal(self):
        return None

    def start(self, first_token, first_state):
        self.position = 1

    def propose(self, max_tokens):
        k = min(self.gamma, max_tokens)
        return Proposal(self.script[self.position:self.position + k])

    def accepted(self, tokens, states):
        self.position += len(tokens)


def _generate(model, prompt, drafter, max_new_tokens, eos=None, temperature=0.0, seed=0):
    return speculative_generate(Target(model), {"input_ids": prompt}, drafter, max_new_tokens,
                                eos_token_id=eos, temperature=temperature, seed=seed)


@pytest.mark.parametrize("gamma", [1, 3, 5])
def test_greedy_equals_generate_with_a_head_drafter(model, gamma):
    head = _head(model)
    for seed in range(6):
        prompt = _prompt(seed)
        reference = _reference(model, prompt, 20)
        drafter = HeadDrafter(head, model.lm_head.weight, gamma=gamma)
        result = _generate(model, prompt, drafter, 20)
        assert result.tokens == reference
        assert sum(result.stats.emitted) + 1 == len(reference)


def test_greedy_equals_generate_with_an_l5f_head(model):
    head = _head(model, "L5F")
    for seed in range(3):
        prompt = _prompt(seed)
        feed = EgptFeed.complete(torch.randn(12, HIDDEN))  # shorter than the answer: zeros beyond
        result = _generate(model, prompt, HeadDrafter(head, model.lm_head.weight, gamma=4, feed=feed), 20)
        assert result.tokens == _reference(model, prompt, 20)
        assert feed.missing > 0


def test_every_draft_accepted(model):
    prompt = _prompt(1)
    reference = _reference(model, prompt, 25)
    result = _generate(model, prompt, ScriptedDrafter(reference, gamma=4), 25)
    assert result.tokens == reference
    assert result.stats.rounds == [4] * 4 + [3]  # 1 + 4·5 + 4 = 25: the last round is cut to the budget
    assert result.stats.tau == pytest.approx(24 / 5)


def test_every_draft_rejected(model):
    prompt = _prompt(2)
    reference = _reference(model, prompt, 15)
    wrong = [(t + 1) % VOCAB for t in reference]
    result = _generate(model, prompt, ScriptedDrafter(wrong, gamma=3), 15)
    assert result.tokens == reference
    assert set(result.stats.rounds) == {0} and result.stats.tau == 1.0


def test_max_new_tokens_reached_mid_draft(model):
    prompt = _prompt(3)
    reference = _reference(model, prompt, 30)
    for limit in (1, 2, 6, 7):
        result = _generate(model, prompt, ScriptedDrafter(reference, gamma=5), limit)
        assert result.tokens == reference[:limit]


def test_eos_inside_an_accepted_draft(model):
    prompt = _prompt(4)
    free_run = _reference(model, prompt, 30)
    eos = free_run[7]
    reference = _reference(model, prompt, 30, eos=eos)
    assert reference[-1] == eos and len(reference) <= 8
    result = _generate(model, prompt, ScriptedDrafter(free_run, gamma=5), 30, eos=eos)
    assert result.tokens == reference


def test_phase_one_with_zero_and_with_correct_candidates(model):
    prompt = _prompt(5)
    reference = _reference(model, prompt, 16)
    head = _head(model)
    none_ready = PrefillCandidates(torch.tensor(reference), _Fixed(0))
    result = _generate(model, prompt, TwoPhaseDrafter(none_ready, HeadDrafter(head, model.lm_head.weight, 3)), 16)
    assert result.tokens == reference and result.stats.free_tokens == 0

    five_right = torch.tensor(reference[:5] + [(reference[5] + 1) % VOCAB] + reference[6:9])
    ready = PrefillCandidates(five_right, _Fixed(9))
    result = _generate(model, prompt, TwoPhaseDrafter(ready, HeadDrafter(head, model.lm_head.weight, 3)), 16)
    assert result.tokens == reference
    assert result.stats.free_tokens == 4  # candidate 0 matches token 0; candidates 1–4 are free
    assert result.stats.proposed[0] == 8

    wrong_first = PrefillCandidates(torch.tensor([(reference[0] + 1) % VOCAB] + reference[1:9]), _Fixed(9))
    result = _generate(model, prompt, TwoPhaseDrafter(wrong_first, HeadDrafter(head, model.lm_head.weight, 3)), 16)
    assert result.tokens == reference and result.stats.free_tokens == 0


def test_continuing_after_a_crop_equals_recomputing(model):
    target = Target(model)
    prompt = _prompt(6)
    _, _, cache = target.prefill({"input_ids": prompt})
    drafts = [5, 9, 11, 13]
    target.forward(drafts, cache)
    target.crop(cache, prompt.shape[1] + 2)  # keep the first two drafts only
    logits_after_crop, _ = target.forward([17, 19], cache)
    full = model(torch.cat([prompt, torch.tensor([[5, 9, 17, 19]])], dim=1)).logits[0, -2:]
    torch.testing.assert_close(logits_after_crop, full, atol=1e-4, rtol=1e-4)


def _tv(counts: torch.Tensor, exact: torch.Tensor) -> float:
    """Total-variation distance between the empirical distribution of `counts` and `exact`."""
    return 0.5 * (counts.double() / counts.sum() - exact.double()).abs().sum().item()


def test_a_rejected_draft_is_replaced_by_a_sample_of_the_residual():
    """After a rejection the correction follows norm(max(0, p − q)), not p.

    The draft (token 3) has p = 0, so it is always rejected. p = (.5, .3, .2, 0) and
    q = (.1, .3, 0, .6) give the residual (2/3, 0, 1/3, 0), at total variation 0.3 from p:
    2000 corrections land within 0.05 of the residual (sampling noise ≈ 0.01), and never on
    token 1, which p gives 30 %."""
    from xsd.decode import verify

    p = torch.tensor([0.5, 0.3, 0.2, 0.0])
    q = torch.tensor([[0.1, 0.3, 0.0, 0.6]])
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    for _ in range(2000):
        n, token = verify(p.log()[None], Proposal([3], q), 1.0, generator)
        assert n == 0
        counts[token] += 1
    assert counts[1] == 0 and counts[3] == 0
    assert _tv(counts, torch.tensor([2 / 3, 0.0, 1 / 3, 0.0])) < 0.05
    assert _tv(counts, p) > 0.25


def test_a_draft_from_q_verified_against_p_yields_a_sample_of_p():
    """One position of the rule: draw a draft from q, keep it or take verify's correction; the
    token is distributed as p. Sampling corrections from p instead would give
    min(p, q) + 0.35·p here, at total variation 0.125 from p; 4000 draws stay within 0.04."""
    from xsd.decode import verify

    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    q = torch.tensor([0.2, 0.5, 0.1, 0.2])
    draft_generator, target_generator = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    counts, accepted = torch.zeros(4), 0
    for _ in range(4000):
        draft = int(torch.multinomial(q, 1, generator=draft_generator))
        n, correction = verify(p.log()[None], Proposal([draft], q[None]), 1.0, target_generator)
        counts[draft if n == 1 else correction] += 1
        accepted += n
    assert 0 < accepted < 4000  # both branches ran (acceptance probability Σ min(p, q) = 0.65)
    assert _tv(counts, p) < 0.04


def test_a_residual_without_mass_falls_back_to_p():
    """q ≥ p everywhere (rounding can make it so): the residual max(0, p − q) is zero, and a
    rejection (forced here by q = 2p, accepting half the time) takes its correction from p
    instead of dividing by zero."""
    from xsd.decode import verify

    p = torch.tensor([0.5, 0.3, 0.2])
    outcomes = [verify(p.log()[None], Proposal([0], 2 * p[None]), 1.0, torch.Generator().manual_seed(s))
                for s in range(200)]
    corrections = [token for n, token in outcomes if n == 0]
    assert 20 < len(corrections) < 180 and set(corrections) <= {0, 1, 2}


def test_the_loop_and_a_head_drafter_draw_from_independent_streams():
    """One decode seed, two roles: the loop's draws and the drafter's are different streams, on
    the device the caller names."""
    from xsd.decode.loop import role_generator

    target, draft = role_generator(5, "target"), role_generator(5, "draft")
    assert not torch.equal(torch.rand(8, generator=target), torch.rand(8, generator=draft))
    assert torch.equal(torch.rand(8, generator=role_generator(5, "draft")),
                       torch.rand(8, generator=HeadDrafter(_head(None), torch.zeros(VOCAB, HIDDEN), 2, seed=5).generator))
    assert role_generator(5, "target", device="cpu").device == torch.device("cpu")


SMALL_VOCAB = 4


def _exact_joint(model, prompt, length=3):
    """The target's exact distribution over its next `length` tokens ([V] * length), from its
    own conditional probabilities at temperature 1, by enumerating every prefix."""
    joint = torch.ones(())
    with torch.no_grad():
        for depth in range(length):
            prefixes = torch.tensor(list(itertools.product(range(SMALL_VOCAB), repeat=depth)),
                                    dtype=torch.long).reshape(SMALL_VOCAB ** depth, depth)
            inputs = torch.cat([prompt.expand(prefixes.shape[0], -1), prefixes], dim=1)
            step = torch.softmax(model(inputs).logits[:, -1].double(), dim=-1)
            joint = joint[..., None] * step.view(*([SMALL_VOCAB] * depth), SMALL_VOCAB)
    return joint


@pytest.mark.slow
def test_sampling_follows_the_target_distribution():
    """With rejection sampling the tokens follow the target's own joint distribution.

    A 4-token-vocabulary Llama and a randomly initialised B1 head (its q differs from p: over 700
    rounds end in a rejection) decode 4 tokens, γ = 2, at temperature 1, seeded as the method
    factory seeds them (the loop and the HeadDrafter both from `seed`). Every decode's first
    round verifies two drafts, for tokens 1 and 2. Over 2000 seeds the empirical joint of the
    first 3 tokens (64 outcomes) must be within total variation 0.12 of the exact one,
    enumerated from the target's conditionals: multinomial noise alone gives ≈ 0.07 (0.09 at
    most in 300 trials); the loop and the drafter drawing from one shared stream gave 0.37."""
    temperature, n, gamma = 1.0, 2000, 2
    model = tiny_llama(SMALL_VOCAB, seed=1, sharpen=4)
    prompt = torch.randint(0, SMALL_VOCAB, (1, 5), generator=torch.Generator().manual_seed(7))
    exact = _exact_joint(model, prompt)
    torch.manual_seed(3)
    head = create_adapter("B1", HIDDEN, heads=2)
    counts = torch.zeros(SMALL_VOCAB, SMALL_VOCAB, SMALL_VOCAB)
    two_draft_rounds = accepted = rejected = 0
    for seed in range(n):
        drafter = HeadDrafter(head, model.lm_head.weight, gamma=gamma, temperature=temperature, seed=seed)
        result = _generate(model, prompt, drafter, 4, temperature=temperature, seed=seed)
        counts[tuple(result.tokens[:3])] += 1
        for kept, proposed in zip(result.stats.rounds, result.stats.proposed):
            two_draft_rounds += proposed == 2
            accepted += kept
            rejected += kept < proposed
    assert two_draft_rounds == n and accepted > n / 2 and rejected > n / 4
    assert _tv(counts, exact) < 0.12


def test_an_event_feed_waits_for_a_late_row_or_degrades_to_zeros():
    import threading

    rows = torch.zeros(4, HIDDEN)
    ready, finished = _Fixed(1), _Fixed(0)  # shared counters, as the draft worker's
    rows[0] = 1.0

    def produce_row_1_later():
        import time

        time.sleep(0.05)
        rows[1] = 2.0
        ready.value = 2

    degrade = EgptFeed(rows, ready, finished, policy="degrade")
    assert torch.equal(degrade.get(0), rows[0])
    assert not degrade.get(1).any() and degrade.missing == 1 and degrade.waited_s == 0.0

    wait = EgptFeed(rows, ready, finished, policy="wait")
    producer = threading.Thread(target=produce_row_1_later)
    producer.start()
    assert torch.equal(wait.get(1), torch.full((HIDDEN,), 2.0))  # blocked until the row was written
    producer.join()
    assert wait.waited_s >= 0.04 and wait.missing == 0

    finished.value = 1  # the draft is done: nothing more will come, so even `wait` zero-fills
    assert not wait.get(3).any() and wait.missing == 1
    with pytest.raises(ValueError, match="policy"):
        EgptFeed(rows, ready, finished, policy="sometimes")


def test_target_slowdown_compares_measured_calls_with_their_isolated_costs():
    from xsd.studies.live_wallclock import target_slowdown

    costs = {"prefill_s": 0.05, "verify_s": {"1": 0.01, "2": 0.012, "3": 0.015}}
    # two samples: prefill ran 1.5× its cost alone; rounds proposing 2, 2 and 0 drafts (k = 3, 3, 1),
    # and a round proposing 4 drafts charged at the largest timed k
    stats = [{"prefill_s": 0.075, "verify_s": 2 * (0.015 + 0.015 + 0.01), "proposed_per_round": [2, 2, 0]},
             {"prefill_s": 0.075, "verify_s": 2 * 0.015, "proposed_per_round": [4]}]
    slowdown = target_slowdown(stats, costs)
    assert slowdown["prefill"] == pytest.approx(1.5)
    assert slowdown["verify"] == pytest.approx(2.0)


def test_share_of_ceiling_is_measured_against_the_loop_without_drafts():
    from xsd.studies.live_wallclock import summarise

    costs = {"prefill_s": 0.05, "decode_s": 0.01, "verify_s": {"1": 0.01, "2": 0.012, "3": 0.015},
             "head_step_s": {"B1": 0.001}}

    def stats(total_s, rounds, proposed):
        return {"prefill_s": 0.05, "draft_s": 0.0, "verify_s": total_s - 0.05, "other_s": 0.0, "total_s": total_s,
                "emitted_per_round": rounds, "accepted_per_round": [n - 1 for n in rounds],
                "proposed_per_round": proposed, "target_forwards": len(rounds), "free_tokens": 0}

    runs = []
    for sample in ("a", "b"):  # ar: 50 ms of inputs, 60 ms to generate's first logits, 100 ms of decode phase
        runs += [{"label": "ar", "sample": sample, "wall_s": 0.2, "tokens": [1] * 9, "gamma": None, "policy": None,
                  "method": "ar", "stats": {"inputs_s": 0.05, "prefill_s": 0.06, "total_s": 0.16}},
                 {"label": "ar-loop", "sample": sample, "wall_s": 0.15, "tokens": [1] * 9, "gamma": None,
                  "policy": None, "method": "ar-loop", "stats": stats(0.13, [1] * 8, [0] * 8)},
                 {"label": "b1@2", "sample": sample, "wall_s": 0.1, "tokens": [1] * 9, "gamma": 2, "policy": None,
                  "method": "b1", "stats": stats(0.09, [3, 3, 2], [2, 2, 2])}]
    b1 = summarise(runs, costs)["b1@2"]
    assert b1["decode_speedup_vs_ar_loop"] == pytest.approx(0.08 / 0.04)     # decode phases: 80 ms vs 40 ms
    assert b1["ceiling"] == pytest.approx((8 / 3) * 0.01 / (0.015 + 2 * 0.001))
    assert b1["fraction_of_ceiling"] == pytest.approx(2.0 / b1["ceiling"])
    assert b1["ceiling_loop_head"] is None  # no head steps timed in the loop here
    costs["in_loop"] = {"head_step_s": {"B1": 0.002}}  # a head step that cost twice as much in the loop
    b1 = summarise(runs, costs)["b1@2"]
    assert b1["ceiling_loop_head"] == pytest.approx((8 / 3) * 0.01 / (0.015 + 2 * 0.002))
    assert b1["fraction_of_ceiling_loop_head"] == pytest.approx(2.0 / b1["ceiling_loop_head"])
    # over ar: its decode phase over the same span, from the prefill's logits (generate's overhead in it)
    assert b1["decode_speedup_vs_ar"] == pytest.approx(0.2 / 0.08)
    assert b1["speedup_vs_ar"] == pytest.approx(0.4 / 0.2) and b1["speedup_vs_ar_loop"] == pytest.approx(0.3 / 0.2)
    ar = summarise(runs, costs)["ar"]
    assert ar["decode_speedup_vs_ar"] == pytest.approx(1.0) and ar["decode_speedup_vs_ar_loop"] == pytest.approx(0.8)
    assert "phases_s" not in ar  # ar is no loop: no phases of drafting


def test_every_decode_phase_speedup_compares_the_same_span():
    """ar and b1 take the same time from the prefill's logits to the last token, so every
    decode-phase speedup is 1, however differently their input building and prefill went."""
    from xsd.studies.live_wallclock import summarise

    costs = {"prefill_s": 0.05, "decode_s": 0.01, "verify_s": {"1": 0.01, "2": 0.012, "3": 0.015},
             "head_step_s": {"B1": 0.001}}

    def loop_stats(prefill_s, total_s, inputs_s):
        return {"inputs_s": inputs_s, "prefill_s": prefill_s, "draft_s": 0.0, "verify_s": total_s - prefill_s,
                "other_s": 0.0, "total_s": total_s, "emitted_per_round": [3, 3], "accepted_per_round": [2, 2],
                "proposed_per_round": [2, 2], "target_forwards": 2, "free_tokens": 0}

    runs = [{"label": "ar", "sample": "a", "wall_s": 0.6, "tokens": [1] * 7, "gamma": None, "policy": None,
             "method": "ar", "stats": {"inputs_s": 0.3, "prefill_s": 0.2, "total_s": 0.3}},
            {"label": "ar-loop", "sample": "a", "wall_s": 0.2, "tokens": [1] * 7, "gamma": None, "policy": None,
             "method": "ar-loop", "stats": loop_stats(0.05, 0.15, 0.01)},
            {"label": "b1@2", "sample": "a", "wall_s": 0.16, "tokens": [1] * 7, "gamma": 2, "policy": None,
             "method": "b1", "stats": loop_stats(0.05, 0.15, 0.01)}]
    summary = summarise(runs, costs)
    for name in ("ar", "ar-loop", "b1@2"):
        assert summary[name]["decode_speedup_vs_ar"] == pytest.approx(1.0), name
        assert summary[name]["decode_speedup_vs_ar_loop"] == pytest.approx(1.0), name
        assert summary[name]["decode_phase_s"] == pytest.approx(0.1), name
    assert summary["b1@2"]["speedup_vs_ar"] == pytest.approx(0.6 / 0.16)  # end to end, inputs and all
    assert summary["ar"]["inputs_s"] == pytest.approx(0.3)


def test_in_loop_costs_come_from_the_rounds_of_methods_without_a_draft_process():
    from xsd.studies.call_costs import in_loop_costs, loop_head_cost

    def run(method, proposed, seconds, policy=None, head=None):
        stats = {"proposed_per_round": proposed, "verify_s_per_round": seconds}
        if head:
            stats.update(head=head[0], head_s=head[1], head_calls=head[2])
        return {"method": method, "policy": policy, "stats": stats}

    runs = [run("ar-loop", [0, 0, 0], [0.010, 0.012, 0.011]),
            run("b1", [2, 2, 0], [0.020, 0.022, 0.013], head=("B1", 0.006, 4)),
            run("b1", [2], [0.021], head=("B1", 0.004, 1)),
            run("l5f", [2, 2], [0.5, 0.5], policy="wait", head=("L5F", 0.5, 4)),  # beside the draft process
            run("l5f", [2], [0.5], policy="prefill-only", head=("L5F", 0.012, 6))]  # its draft VLM stopped
    costs = in_loop_costs(runs)
    assert costs["decode_s"] == pytest.approx(0.0115)  # median of 10, 11, 12, 13 ms
    assert costs["verify_s"] == {"1": pytest.approx(0.0115), "3": pytest.approx(0.021)}
    assert costs["forwards"] == {"1": 4, "3": 3}
    assert costs["head_step_s"] == {"B1": pytest.approx(0.010 / 5), "L5F": pytest.approx(0.002)}
    alone = {"head_step_s": {"B1": 0.001, "L5F": 0.0015}}
    assert loop_head_cost({**alone, "in_loop": costs}, "B1") == pytest.approx(0.002)
    assert loop_head_cost(alone, "L5F") == 0.0015  # nothing timed in the loop: the step alone


def test_benchmark_samples_keep_only_the_asked_question_types():
    from types import SimpleNamespace

    from xsd.studies.benchmark_inputs import benchmark_samples

    samples = [SimpleNamespace(id=f"s{i}", qtype=("describe", "count", "colour")[i % 3]) for i in range(30)]
    dataset = SimpleNamespace(samples=samples)
    chosen = benchmark_samples(dataset, 4, seed=1, qtypes=("describe",))
    assert len(chosen) == 4 and {s.qtype for s in chosen} == {"describe"}
    assert [s.id for s in chosen] == [s.id for s in benchmark_samples(dataset, 4, seed=1, qtypes=("describe",))]
    assert len(benchmark_samples(dataset, 50, seed=1, qtypes=("describe", "count"))) == 20  # all there are
    with pytest.raises(ValueError, match="question type lighting"):
        benchmark_samples(dataset, 4, seed=1, qtypes=("lighting",))
