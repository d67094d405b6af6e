"""The decoder on the real model classes: Video-LLaVA as target, the draft VLM in its own process."""
import json
import time

import numpy as np
import pytest
import torch

from xsd.adapters import create_adapter
from xsd.config import load_profile
from xsd.decode import EgptFeed, HeadDrafter, Target, TwoPhaseDrafter, speculative_generate
from xsd.decode.drafters import PrefillCandidates, PromptLookupDrafter, StopDraftAfterPrefill, _Fixed
from xsd.models.pair import new_pair

CORPUS = ["How many cars are there? There are two cars.", "Which way does the bus go? It goes left.",
          "Is it night? Yes, it is dark."] * 30
QUESTIONS = ["How many cars are there?", "Which way does the bus go?", "Is it night?"]


@pytest.fixture(scope="module")
def random_pair():
    """Untrained smoke-size models: answers run to max_new_tokens, which is what these tests need."""
    pair = new_pair(load_profile("smoke").models, CORPUS, seed=0)
    with torch.no_grad():
        pair.target.lm_head.weight.mul_(30)  # sharp logits: no near-ties between argmax candidates
    return pair


def _video(seed):
    return np.random.default_rng(seed).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)


def _reference(pair, inputs, n):
    out = pair.target.generate(**inputs, max_new_tokens=n, do_sample=False,
                               pad_token_id=pair.target_tokenizer.pad_token_id, eos_token_id=None)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


@pytest.mark.parametrize("gamma", [1, 4])
def test_video_llava_greedy_equals_generate_for_every_drafter(random_pair, gamma):
    target = Target(random_pair.target)
    hidden = random_pair.target.config.text_config.hidden_size
    torch.manual_seed(0)
    b1 = create_adapter("B1", hidden, heads=2)
    l5f = create_adapter("L5F", hidden, heads=2)
    for seed, question in enumerate(QUESTIONS):
        inputs = random_pair.inputs("target", _video(seed), question)
        reference = _reference(random_pair, inputs, 14)
        assert len(reference) == 14
        feed = EgptFeed.complete(torch.randn(20, hidden))
        candidates = PrefillCandidates(torch.tensor(reference[:3] + [0, 0]), _Fixed(5))
        drafters = [
            HeadDrafter(b1, target.lm_head.weight, gamma),
            HeadDrafter(l5f, target.lm_head.weight, gamma, feed=feed),
            TwoPhaseDrafter(candidates, HeadDrafter(l5f, target.lm_head.weight, gamma, feed=feed)),
            PromptLookupDrafter(inputs["input_ids"][0].tolist(), gamma),
        ]
        for drafter in drafters:
            result = speculative_generate(target, inputs, drafter, 14)
            assert result.tokens == reference, type(drafter).__name__
        assert result.stats.target_forwards >= 1


def _b1_on_one_sample(pair):
    """(target, inputs, the reference greedy answer of 10 tokens, an untrained B1 drafter)."""
    target = Target(pair.target)
    inputs = pair.inputs("target", _video(9), QUESTIONS[0])
    hidden = pair.target.config.text_config.hidden_size
    head = HeadDrafter(create_adapter("B1", hidden, heads=2), target.lm_head.weight, 3)
    return target, inputs, _reference(pair, inputs, 10), head


def test_the_two_phase_drafter_gets_its_free_tokens(random_pair):
    target, inputs, reference, head = _b1_on_one_sample(random_pair)
    candidates = PrefillCandidates(torch.tensor(reference[:6]), _Fixed(6))
    result = speculative_generate(target, inputs, TwoPhaseDrafter(candidates, head), 10)
    assert result.tokens == reference
    assert result.stats.free_tokens == 5 and result.stats.emitted[0] == 6


def test_prefill_only_stops_the_draft_once_phase_one_is_taken(random_pair):
    target, inputs, reference, head = _b1_on_one_sample(random_pair)
    ready = _Fixed(4)
    events = []

    def release():
        events.append(("released", ready.value))
        ready.value = 6  # rows written after the release must not turn into phase-1 drafts

    drafter = StopDraftAfterPrefill(TwoPhaseDrafter(PrefillCandidates(torch.tensor(reference), ready), head), release)
    result = speculative_generate(target, inputs, drafter, 10)
    assert result.tokens == reference
    assert events == [("released", 4)] and result.stats.free_tokens == 3


@pytest.mark.slow
def test_every_method_matches_ar_on_the_smoke_profile(smoke_data):
    from xsd.names import METHODS, NEEDS_WORKER, POLICIES
    from xsd.pipeline import ensure_decoder, ensure_world
    from xsd.studies.feature_adapters import best_prefill_adapter
    from xsd.world.dataset import WorldDataset

    dataset = WorldDataset(ensure_world(smoke_data), "test")
    decoder = ensure_decoder(smoke_data, METHODS, prefill_adapter=best_prefill_adapter(smoke_data))
    ran = {"verify rounds": 0, "b1 drafts accepted": 0, "phase-1 candidates": 0, "draft rows read by l5f": 0}
    prefill, worker = decoder.target.prefill, decoder.worker

    def prefill_after_the_drafts_first_rows(*args, **kwargs):
        """The smoke target's prefill takes milliseconds, where the study's takes 4.8 times the
        draft's: on a loaded machine phase 1 would find no candidate ready. Waiting for the draft's
        first rows gives phase 1 the head start it has in the study, whatever the machine's load."""
        deadline = time.perf_counter() + 60
        while worker.busy and worker.ready.value < 3 and not worker.finished.value and time.perf_counter() < deadline:
            time.sleep(0.001)
        return prefill(*args, **kwargs)

    decoder.target.prefill = prefill_after_the_drafts_first_rows
    try:
        for sample in dataset.samples[:4]:
            frames = dataset.event_frames(sample), dataset.video_frames(sample)
            results = {m: decoder.run(m, *frames, sample.question, 12) for m in METHODS}
            for policy in POLICIES:
                results.update({f"{m} {policy}": decoder.run(m, *frames, sample.question, 12, policy=policy)
                                for m in NEEDS_WORKER})
            for method, result in results.items():
                assert result["tokens"] == results["ar"]["tokens"], method
            assert results["two-phase"]["stats"]["prefill_adapter"] in ("L1", "L2", "L3", "L4")
            ran["verify rounds"] += results["b1"]["stats"]["target_forwards"]
            ran["b1 drafts accepted"] += sum(results["b1"]["stats"]["accepted_per_round"])
            ran["phase-1 candidates"] += results["two-phase wait"]["stats"]["phase1_candidates"]
            ran["draft rows read by l5f"] += results["l5f wait"]["stats"]["egpt_read"]
    finally:
        decoder.close()
    # the paths this test names ran: drafts verified and accepted, phase 1 and L5F fed by the draft process
    assert all(count > 0 for count in ran.values()), ran


@pytest.mark.slow
def test_decode_command_prints_one_json_object(smoke_data, run_xsd):
    import os

    result = run_xsd("decode", "--profile", "smoke", "--sample", "0", "--method", "two-phase", "--json",
                     env={"XSD_DATA_ROOT": os.environ["XSD_DATA_ROOT"]})
    assert result.returncode == 0, result.stderr[-2000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["measured_on"]["device"] == "cpu" and output["measured_on"]["dtype"] == "float32"
    for key in ("tokens", "text", "wall_s", "stats", "sample", "threads"):
        assert key in output
    for key in ("prefill_s", "draft_s", "verify_s", "free_tokens", "accepted_per_round", "tau"):
        assert key in output["stats"]
    bad = run_xsd("decode", "--profile", "smoke", "--sample", "no/such/id", "--method", "ar",
                  env={"XSD_DATA_ROOT": os.environ["XSD_DATA_ROOT"]})
    assert bad.returncode == 2 and "no test sample" in bad.stderr


def test_bench_decode_names_the_question_types_it_takes(run_xsd, tmp_path):
    bad = run_xsd("bench", "decode", "--profile", "smoke", "--qtypes", "weather", "--json", tmp_path / "b.json")
    assert bad.returncode == 2 and "invalid choice: 'weather'" in bad.stderr and "describe" in bad.stderr


@pytest.mark.slow
def test_bench_decode_reports_every_method(smoke_data):
    from xsd.studies.live_wallclock import bench_decode

    result = bench_decode(smoke_data, n=2, gammas=(2,), progress=False)
    assert set(result["methods"]) == {"ar", "ar-loop", "prompt-lookup@2", "b1@2", *(
        f"{m}@2 {p}" for m in ("l5f", "two-phase") for p in ("wait", "degrade", "prefill-only", "pause-verify"))}
    assert result["methods"]["b1@2"]["tau"] > 1  # b1's drafts were verified and some accepted
    for entry in result["methods"].values():
        assert entry["exact_match_rate"] == 1.0 and entry["n_samples"] == 2 and entry["wall_s"] > 0
        for key in ("speedup_vs_ar", "tokens"):
            assert key in entry
    assert "tau" in result["methods"]["b1@2"] and "phases_s" in result["methods"]["l5f@2 wait"]
    for policy in ("degrade", "prefill-only"):  # neither ever blocks
        assert result["methods"][f"two-phase@2 {policy}"]["egpt_wait_s"] == 0.0
    assert set(result["costs"]["verify_s"]) == {"1", "2", "3"}
    in_loop = result["costs"]["in_loop"]  # smoke answers may be over before any round: then nothing timed
    assert set(in_loop["verify_s"]) <= {"1", "2", "3"} and (in_loop["decode_s"] is None or in_loop["decode_s"] > 0)
    slowdown = result["methods"]["l5f@2 wait"]["target_slowdown"]
    assert set(slowdown) == {"prefill", "verify"} and slowdown["prefill"] > 0
    assert slowdown["verify"] is None or slowdown["verify"] > 0  # None: every answer ended before a verify round


def test_pause_verify_holds_the_draft_through_every_verify_forward(random_pair):
    from xsd.decode.drafters import PauseDraftDuringVerify

    target, inputs, reference, head = _b1_on_one_sample(random_pair)
    state = {"paused": False}
    during_verify = []
    forward = target.forward

    def watched_forward(tokens, cache):
        during_verify.append(state["paused"])
        return forward(tokens, cache)

    target.forward = watched_forward
    drafter = PauseDraftDuringVerify(head, pause=lambda: state.update(paused=True),
                                     resume=lambda: state.update(paused=False))
    result = speculative_generate(target, inputs, drafter, 10)
    assert result.tokens == reference
    assert len(during_verify) == result.stats.target_forwards > 0 and all(during_verify)
    assert not state["paused"]  # resumed after the last round


def test_ar_and_the_loop_are_timed_over_the_same_spans(random_pair, monkeypatch):
    """Input building and the prefill are made slow (0.3 s each): every method, `ar` (generate)
    included, must put them in inputs_s and prefill_s, and neither in its decode phase."""
    import time

    from xsd.studies.live_wallclock import decode_phase_s
    from xsd.decode.methods import Decoder

    slow = 0.3
    tower = random_pair.target.model.video_tower  # generate encodes the video before its prefill forward
    build, encode = random_pair.inputs, tower.forward

    def slow_inputs(*args, **kwargs):
        time.sleep(slow)
        return build(*args, **kwargs)

    def slow_prefill(*args, **kwargs):  # the video's encoding, part of every method's prefill
        time.sleep(slow)
        return encode(*args, **kwargs)

    monkeypatch.setattr(random_pair, "inputs", slow_inputs)
    monkeypatch.setattr(tower, "forward", slow_prefill)
    decoder = Decoder(random_pair, heads={})
    runs = {m: decoder.run(m, None, _video(9), QUESTIONS[0], 6) for m in ("ar", "ar-loop")}
    assert runs["ar"]["tokens"] == runs["ar-loop"]["tokens"]
    for method, run in runs.items():
        stats = run["stats"]
        assert stats["inputs_s"] >= slow and stats["prefill_s"] >= slow, method
        assert decode_phase_s(stats) < slow, method
        assert stats["inputs_s"] + stats["total_s"] <= run["wall_s"], method
