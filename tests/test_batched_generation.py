"""Greedy answers generated many at once, left-padded, are the answers each sample gets alone."""
import pytest

pytest.importorskip("transformers")

from xsd.models import generate  # noqa: E402


def _test_samples(profile, side, n):
    from xsd.models.registry import built_world
    from xsd.studies.model_accuracy import gradable
    from xsd.world.dataset import WorldDataset

    dataset = WorldDataset(built_world(profile), "test", event_frames=profile.models.event_frames)
    return dataset, gradable(dataset.samples, side)[:n]


def _generate_calls(monkeypatch):
    """The batch size of every `generate` call made through `greedy_texts`."""
    sizes = []
    real = generate.greedy_texts

    def counting(model, tokenizer, batch, max_new_tokens):
        sizes.append(batch["input_ids"].shape[0])
        return real(model, tokenizer, batch, max_new_tokens)

    monkeypatch.setattr(generate, "greedy_texts", counting)
    return sizes


@pytest.mark.parametrize("side", ["draft", "target"])
def test_a_vlms_batched_answers_are_its_answers_one_at_a_time(smoke_data, side, monkeypatch):
    from xsd.models.registry import load_models

    pair = load_models(smoke_data)
    dataset, samples = _test_samples(smoke_data, side, 12)
    inputs = [pair.sample_inputs(side, dataset, s) for s in samples]
    assert len({x["input_ids"].shape[1] for x in inputs}) > 1  # the batch pads its shorter prompts
    sizes = _generate_calls(monkeypatch)
    alone = generate.answers(pair, side, inputs, max_new_tokens=64, batch_size=1)
    together = generate.answers(pair, side, iter(inputs), max_new_tokens=64, batch_size=5)
    assert sizes == [1] * 12 + [5, 5, 2]
    assert together == alone
    assert all(alone) and len({len(a) for a in alone}) > 1  # real answers, of different lengths


def test_the_base_llms_batched_answers_are_its_answers_one_at_a_time(smoke_data, monkeypatch):
    from xsd.studies.description_reading import load_base_llm, prompt_ids, sample_description

    model, tokenizer = load_base_llm(smoke_data)
    _, samples = _test_samples(smoke_data, "target", 8)
    prompts = [prompt_ids(tokenizer, "target", s.question, sample_description("target", s)) for s in samples]
    assert len({len(p) for p in prompts}) > 1
    sizes = _generate_calls(monkeypatch)
    alone = generate.text_answers(model, tokenizer, prompts, max_new_tokens=64, batch_size=1)
    together = generate.text_answers(model, tokenizer, prompts, max_new_tokens=64, batch_size=8)
    assert sizes == [1] * 8 + [8]
    assert together == alone and all(alone)


def test_batches_keep_order_and_the_last_one_holds_the_rest():
    assert list(generate.batches(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(generate.batches([], 3)) == []


def test_an_answer_is_cut_after_its_first_eos():
    assert generate.until_eos([5, 6, 2, 2, 2], eos=2) == 3
    assert generate.until_eos([5, 6, 7], eos=2) == 3
