"""The tower probe: a linear map of all tokens reads a fact wherever the tokens keep it, one attention
layer only what a token's content says; and `xsd models probe` runs on a trained pair."""
import json

import pytest
import torch

pytest.importorskip("transformers")

from xsd.models import probe  # noqa: E402

TOKENS, WIDTH, CLIPS = 6, 8, 400


def features(coding: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips of 6 tokens whose one fact (a class of 3) is either in every token's content, or only
    in which token is lit (the same content at a position that nothing in the token names)."""
    gen = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 3, (CLIPS,), generator=gen)
    x = torch.randn(CLIPS, TOKENS, WIDTH, generator=gen) * 0.1
    if coding == "content":
        x[torch.arange(CLIPS), :, label] += 1.0
    else:
        x[torch.arange(CLIPS), label, 0] += 3.0
    return x, label[:, None]


@pytest.mark.parametrize("coding", ["content", "position"])
def test_the_linear_probe_reads_a_fact_however_the_tokens_keep_it(coding):
    x, y = features(coding)
    assert probe.fit_and_score("linear", x, y, [3], held_out=100, steps=300, seed=0)[0] > 0.95


def test_the_attention_probe_reads_content_but_not_a_position_no_token_names():
    content, by_content = features("content")
    position, by_position = features("position")
    assert probe.fit_and_score("attention", content, by_content, [3], held_out=100, steps=300, seed=0)[0] > 0.95
    assert probe.fit_and_score("attention", position, by_position, [3], held_out=100, steps=300, seed=0)[0] < 0.6


def test_a_probe_is_scored_on_the_targets_it_is_given():
    """Label 0 is plain in the tokens, labels 1 and 2 are not told apart: scored without the 0s, the
    probe is at chance (1/2), though fitted on all of them it is right on most clips."""
    gen = torch.Generator().manual_seed(0)
    label = torch.multinomial(torch.tensor([0.6, 0.2, 0.2]), CLIPS, replacement=True, generator=gen)
    x = torch.randn(CLIPS, TOKENS, WIDTH, generator=gen) * 0.1
    x[label == 0, :, 0] += 1.0
    y = label[:, None]
    without_zeros = torch.where(y == 0, -100, y)
    everything = probe.fit_and_score("linear", x, y, [3], held_out=100, steps=300, seed=0)[0]
    road_users = probe.fit_and_score("linear", x, y, [3], held_out=100, steps=300, seed=0, scored=without_zeros)[0]
    assert everything > 0.7 and road_users < 0.65


def test_an_unknown_probe_is_refused():
    with pytest.raises(ValueError, match="probe must be one of"):
        probe.new_probe("mlp", torch.zeros(1, 2, 3), [2])


def test_the_probe_command_scores_both_probes_on_both_trained_towers(smoke_data, run_xsd, tmp_path):
    out = tmp_path / "probe.json"
    result = run_xsd("models", "probe", "--profile", "smoke", "--held-out", "2", "--steps", "5", "--json", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    for side in ("draft", "target"):
        assert report[side]["clips_held_out"] == 2 and report[side]["clips_fitted"] >= 1
        assert report[side]["seed"] == smoke_data.seed
        for name in probe.PROBES:
            classes = report[side][name]["class"]   # per lane, None where no held-out clip has a road user there
            assert len(classes) == 4 and all(v is None or 0.0 <= v <= 1.0 for v in classes)
            shown = [v for v in classes if v is not None]
            assert report[side][name]["class_mean"] == (pytest.approx(sum(shown) / len(shown)) if shown else None)
            assert f"{side:6} {name:9}  lane class" in result.stdout
