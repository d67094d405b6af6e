"""Stage C on still frames first: the first `still_steps` steps show each clip as its first frame
(or, with `still_frames: 2`, its first and last), the rest every frame; the settings key the
checkpoint only when set and are checked on load."""
import math

import pytest
import yaml

pytest.importorskip("transformers")

from xsd.config import ProfileError, load_profile  # noqa: E402
from xsd.locations import Locations  # noqa: E402
from xsd.models import mini_tuning, train  # noqa: E402
from xsd.models.mini_sides import SPECS  # noqa: E402


def test_still_steps_key_the_checkpoint_only_when_set(with_train):
    profile = load_profile("smoke")
    assert "still_steps" not in repr(profile.models.train)
    still = with_train(profile, still_steps=1)
    assert "still_steps=1" in repr(still.models.train)
    assert Locations(still).checkpoint != Locations(profile).checkpoint


def test_more_still_steps_than_tuning_steps_is_refused(tmp_path):
    data = yaml.safe_load(open(load_profile("smoke").source))
    data["models"]["train"]["still_steps"] = data["models"]["train"]["tune_steps"] + 1
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match="still_steps.*tune_steps"):
        load_profile(path)


def test_still_frames_key_the_checkpoint_only_when_set(with_train):
    profile = with_train(load_profile("smoke"), still_steps=1)
    assert "still_frames" not in repr(profile.models.train)
    pair = with_train(profile, still_frames=2)
    assert "still_frames=2" in repr(pair.models.train)
    assert Locations(pair).checkpoint != Locations(profile).checkpoint


@pytest.mark.parametrize("frames", [0, 3])
def test_a_still_of_other_than_one_or_two_frames_is_refused(tmp_path, frames):
    data = yaml.safe_load(open(load_profile("smoke").source))
    data["models"]["train"]["still_frames"] = frames
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=f"still_frames.*found {frames}"):
        load_profile(path)


@pytest.mark.parametrize("still_frames", [1, 2])
def test_stage_c_sees_still_frames_first_then_every_frame(smoke_data, with_train, tmp_path, monkeypatch,
                                                          still_frames):
    profile = with_train(smoke_data, still_steps=2)
    spec = SPECS["target"]
    directory = Locations(smoke_data).checkpoint  # the trained smoke pair: its cached features
    model, tokenizer = mini_tuning.side_model(profile, spec, directory)
    train.freeze_for_tuning(model)
    frames_seen = []
    real_loss = train.conversation_loss

    def recording_loss(model, tokenizer, side, conversations):
        frames_seen.append({c.features.shape[0] for c in conversations})
        return real_loss(model, tokenizer, side, conversations)

    monkeypatch.setattr(train, "conversation_loss", recording_loss)
    losses = mini_tuning.train_on_clips(profile, spec, directory, model, tokenizer, tmp_path, lambda *_: None, None,
                                        steps=4, lr=1e-3, weight_decay=0.0, still_steps=2,
                                        still_frames=still_frames)
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
    every = profile.models.video_frames
    assert frames_seen == [{still_frames}, {still_frames}, {every}, {every}]


def test_a_still_conversation_keeps_its_turns():
    import torch

    conversation = train.Conversation(torch.zeros(8, 5, 3), [("q", "a")], "caption")
    still = mini_tuning.still(conversation)
    assert still.features.shape == (1, 5, 3) and still.turns == [("q", "a")] and still.caption == "caption"
    assert conversation.features.shape == (8, 5, 3)


def test_a_two_frame_still_shows_the_first_and_the_last_frame():
    import torch

    clip = torch.arange(8.0).reshape(8, 1, 1).expand(8, 5, 3)
    still = mini_tuning.still(train.Conversation(clip, [("q", "a")], None), frames=2)
    assert still.features[:, 0, 0].tolist() == [0.0, 7.0]
    one_frame = mini_tuning.still(train.Conversation(clip[:1], [("q", "a")], None), frames=2)
    assert one_frame.features.shape == (1, 5, 3)
