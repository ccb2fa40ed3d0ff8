"""Model maths: codebooks, residual quantization, masking, guidance, sampling, conditions."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from saymotion.config import ConditionConfig, MaskedTransformerConfig, ResidualTransformerConfig, TokenizerConfig
from saymotion.models.common import frame_pool, segment_pool, sinusoidal_positions
from saymotion.models.conditioning import ConditionBatch, ConditionEncoder, SpeechListener
from saymotion.models.guidance import GuidedCondition, combine_guidance, single_guidance
from saymotion.models.masked_transformer import MaskedTransformer, cosine_schedule
from saymotion.models.residual_transformer import ResidualTransformer
from saymotion.models.sampling import choice_scores, penalise_neighbour_repeats, sample_codes, top_k_filter
from saymotion.models.tokenizer import EMACodebook, MotionTokenizer, ResidualVQ

AUDIO_DIM = 12
TEXT_DIM = 10
TINY_CONDITION = ConditionConfig(dim=16, audio_tokens=2, memory_size=8, memory_dim=16, encoder_layers=1, encoder_heads=2)
TINY_TRANSFORMER = dict(dim=16, layers=1, heads=2, ff_dim=32, dropout=0.0)


def condition_batch(audio_lengths=(9, 4, 6), with_audio=(True, False, True), with_text=(True, True, False), seed=0):
    rng = np.random.default_rng(seed)
    audio = [rng.standard_normal((n, AUDIO_DIM)).astype(np.float32) if a else None for n, a in zip(audio_lengths, with_audio)]
    text = [rng.standard_normal(TEXT_DIM).astype(np.float32) if t else None for t in with_text]
    return ConditionBatch.from_arrays(audio, text, AUDIO_DIM, TEXT_DIM)


# --- tokenizer ----------------------------------------------------------------------------------


def test_codebook_initialises_from_data_then_tracks_cluster_means():
    torch.manual_seed(0)
    codebook = EMACodebook(num_codes=2, dim=2, decay=0.5, dead_threshold=0.01)
    centres = torch.tensor([[5.0, 5.0], [-5.0, -5.0]])
    data = torch.cat([centres[0] + 0.1 * torch.randn(50, 2), centres[1] + 0.1 * torch.randn(50, 2)])
    codebook.update(data, codebook.nearest(data))
    assert bool(codebook.initialised)
    assert all((codebook.codebook[k] == data).all(1).any() for k in range(2))  # seeded with data rows
    for _ in range(30):
        codebook.update(data, codebook.nearest(data))
    found = codebook.codebook[codebook.codebook[:, 0].argsort(descending=True)]
    if (found[0] - found[1]).norm() > 1:  # both clusters found: each code sits on a cluster mean
        torch.testing.assert_close(found, torch.stack([data[:50].mean(0), data[50:].mean(0)]), atol=0.05, rtol=0)


def test_dead_codes_are_reset_onto_current_encoder_outputs():
    torch.manual_seed(0)
    codebook = EMACodebook(num_codes=4, dim=3, decay=0.9, dead_threshold=1.0)
    first = torch.randn(64, 3)
    codebook.update(first, codebook.nearest(first))
    codebook.codebook[3] = 1000.0  # a code far from everything is never chosen
    later = torch.randn(64, 3) + 10.0
    for _ in range(3):
        codes = codebook.nearest(later)
        codebook.update(later, codes)
    assert (codebook.codebook - 1000.0).abs().min() > 1.0
    # Every code now sits within the new data's range: dead ones were re-seeded from it.
    assert bool((codebook.codebook.min(1).values > 5.0).all())
    assert bool((codebook.cluster_size >= 1.0 * 0.9**3 - 1e-6).all())


def test_residual_layers_reduce_quantization_error():
    torch.manual_seed(0)
    config = TokenizerConfig(num_codes=16, code_dim=8, num_quantizers=4, quantize_dropout=0.0, ema_decay=0.8)
    quantizer = ResidualVQ(config)
    latent = torch.randn(8, 8, 32)
    for _ in range(25):
        quantizer.train()(latent)
    codes = quantizer.quantize(latent, train=False).codes
    errors = [(quantizer.decode_codes(codes[..., :q]) - latent).pow(2).mean().item() for q in range(1, 5)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.6 * errors[0]


def test_quantize_dropout_only_shortens_the_decoded_sum():
    torch.manual_seed(0)
    config = TokenizerConfig(num_codes=8, code_dim=4, num_quantizers=3, quantize_dropout=1.0)
    quantizer = ResidualVQ(config)
    latent = torch.randn(2, 4, 6)
    used = {quantizer(latent).layers_used for _ in range(40)}
    assert used == {1, 2, 3}
    output = quantizer(latent)
    assert output.codes.shape == (2, 6, 3)  # every layer is still quantized (and updated)
    expected = quantizer.decode_codes(output.codes[..., : output.layers_used])
    torch.testing.assert_close(output.vectors, expected, atol=1e-5, rtol=0)


def test_tokenizer_shapes_and_straight_through_gradient():
    torch.manual_seed(0)
    config = TokenizerConfig(num_codes=16, code_dim=8, width=16, depth=1, num_quantizers=3)
    tokenizer = MotionTokenizer(config, feature_dim=29)
    features = torch.randn(2, 24, 29)
    output = tokenizer(features)
    assert output.reconstruction.shape == (2, 24, 29)
    assert output.quantized.codes.shape == (2, 6, 3)
    output.reconstruction.sum().backward()
    assert tokenizer.encoder.net[0].weight.grad.abs().sum() > 0  # gradients pass the quantizer
    tokenizer.eval()
    codes = tokenizer.encode(features)
    assert codes.shape == (2, 6, 3) and int(codes.max()) < 16
    assert tokenizer.decode(codes[..., :1]).shape == (2, 24, 29)


def test_a_tokenizer_with_frozen_codes_trains_its_decoder_on_all_layers_and_keeps_its_codebooks():
    torch.manual_seed(0)
    config = TokenizerConfig(num_codes=16, code_dim=8, width=16, depth=1, num_quantizers=3, quantize_dropout=1.0)
    tokenizer = MotionTokenizer(config, feature_dim=29)
    features = torch.randn(2, 24, 29)
    tokenizer.train()(features)  # the EMA codebooks move while training normally
    tokenizer.freeze_codes()
    buffers = {name: value.clone() for name, value in tokenizer.quantizer.named_buffers()}
    codes = tokenizer.encode(features)
    outputs = [tokenizer.train()(features) for _ in range(10)]
    assert {output.quantized.layers_used for output in outputs} == {3}  # no quantize dropout
    assert all(torch.equal(output.quantized.codes, codes) for output in outputs)
    assert all(torch.equal(value, buffers[name]) for name, value in tokenizer.quantizer.named_buffers())
    outputs[0].reconstruction.sum().backward()
    trained = {name.split(".")[0] for name, weight in tokenizer.named_parameters() if weight.grad is not None}
    assert trained == {"decoder"}


# --- pooling and conditions ---------------------------------------------------------------------


def test_segment_and_frame_pool_average_only_valid_frames():
    x = torch.arange(8, dtype=torch.float32).reshape(1, 8, 1).repeat(2, 1, 1)
    lengths = torch.tensor([8, 4])
    pooled = segment_pool(x, lengths, 2)[..., 0]
    torch.testing.assert_close(pooled, torch.tensor([[1.5, 5.5], [0.5, 2.5]]))
    framed, new_lengths = frame_pool(x, torch.tensor([8, 3]), 4)
    torch.testing.assert_close(framed[..., 0], torch.tensor([[1.5, 5.5], [1.0, 0.0]]))
    assert new_lengths.tolist() == [2, 1]


@pytest.mark.parametrize("encoder,tokens", [("memory", 2), ("avgpool", 2), ("conv1d", 2), ("transformer_cls", 1)])
def test_audio_encoders_ignore_padding_and_dropped_modalities(encoder, tokens):
    torch.manual_seed(0)
    config = ConditionConfig(**{**TINY_CONDITION.__dict__, "audio_encoder": encoder, "audio_pool": 1})
    model = ConditionEncoder(config, AUDIO_DIM, TEXT_DIM).eval()
    batch = condition_batch()
    out = model(batch)
    assert out.shape == (3, tokens + 1, 16)
    # Garbage after each sequence's end changes nothing.
    padded = replace(batch, audio=torch.cat([batch.audio, 50 * torch.randn(3, 5, AUDIO_DIM)], 1))
    torch.testing.assert_close(model(padded), out, atol=1e-4, rtol=0)
    # A dropped modality is its null tokens, whatever the input was.
    null = model(batch.restricted(audio=False, text=False))
    torch.testing.assert_close(null[1], null[0])
    torch.testing.assert_close(out[1, :tokens], null[1, :tokens])  # example 1 had no audio
    torch.testing.assert_close(out[2, tokens:], null[2, tokens:])  # example 2 had no text
    assert not torch.allclose(out[0], null[0])


MEANING = replace(TINY_CONDITION, align_weight=2.0)


def test_meaning_token_reads_predicted_meaning_like_text_and_is_aligned_to_the_words_spoken():
    torch.manual_seed(0)
    model = ConditionEncoder(MEANING, AUDIO_DIM, TEXT_DIM).eval()
    batch = condition_batch(with_audio=(True, True, False), with_text=(False, False, False))
    tokens, meaning = model.encode(batch)
    assert tokens.shape == (3, MEANING.audio_tokens + 2, 16)
    torch.testing.assert_close(meaning.norm(dim=-1), torch.ones(3))
    # The meaning token is the written-instruction projection of the predicted meaning.
    as_text = model(replace(batch, text=meaning, use_text=torch.ones(3, dtype=torch.bool)))
    torch.testing.assert_close((tokens[:2, -2] - model.audio_type), (as_text[:2, -1] - model.text_type))
    # No words known: no loss. Words known: 1 - cosine on the rows with audio only (row 2 has none).
    assert model.alignment_loss(meaning, batch).item() == 0.0
    spoken = torch.stack([meaning[0].detach(), -meaning[1].detach(), meaning[2].detach()])
    loss = model.alignment_loss(meaning, replace(batch, spoken_text=spoken))
    assert loss.item() == pytest.approx(MEANING.align_weight * (0 + 2) / 2, abs=1e-5)
    # align_weight 0 (the default): no meaning token, no loss.
    plain = ConditionEncoder(TINY_CONDITION, AUDIO_DIM, TEXT_DIM)
    plain_tokens, plain_meaning = plain.encode(batch)
    assert plain_meaning is None and plain_tokens.shape[1] == TINY_CONDITION.audio_tokens + 1


def test_alignment_loss_trains_the_audio_encoder_towards_the_words():
    torch.manual_seed(0)
    model = ConditionEncoder(MEANING, AUDIO_DIM, TEXT_DIM)
    batch = condition_batch(with_audio=(True, True, True))
    targets = torch.nn.functional.normalize(torch.randn(3, TEXT_DIM), dim=-1)
    batch = replace(batch, spoken_text=targets)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = model.alignment_loss(model.encode(batch)[1], batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_a_listener_becomes_the_frozen_speech_part_of_a_condition_encoder():
    torch.manual_seed(0)
    listener = SpeechListener(MEANING, AUDIO_DIM, TEXT_DIM).eval()
    model = ConditionEncoder(MEANING, AUDIO_DIM, TEXT_DIM).eval()
    batch = condition_batch(with_audio=(True, True, True))
    assert not torch.allclose(model.encode(batch)[1], listener.predict(batch))
    model.load_listener(listener)
    torch.testing.assert_close(model.encode(batch)[1], listener.predict(batch))
    # The listener's alignment is the unweighted one the condition encoder weights.
    batch = replace(batch, spoken_text=torch.nn.functional.normalize(torch.randn(3, TEXT_DIM), dim=-1))
    loss, values = listener(batch, torch.zeros(3, TEXT_DIM))
    aligned = model.alignment_loss(model.encode(batch)[1], batch).item()
    assert aligned == pytest.approx(MEANING.align_weight * values["alignment"].item(), rel=1e-5)
    assert loss.item() == pytest.approx(values["alignment"].item() + MEANING.listener_contrast * values["contrastive"].item())
    model.freeze_listener()
    frozen = {name for name, parameter in model.named_parameters() if not parameter.requires_grad}
    assert frozen == {f"{part}.{name}" for part in ("audio", "meaning") for name, _ in getattr(listener, part).named_parameters()}
    with pytest.raises(ValueError, match="no meaning token"):
        ConditionEncoder(TINY_CONDITION, AUDIO_DIM, TEXT_DIM).load_listener(listener)


def test_a_frame_reading_listener_leaves_the_audio_encoder_to_the_motion_loss():
    torch.manual_seed(0)
    reading = replace(MEANING, meaning_layers=1)
    listener = SpeechListener(reading, AUDIO_DIM, TEXT_DIM).eval()
    assert listener.audio is None and listener.meaning_frames is not None
    model = ConditionEncoder(reading, AUDIO_DIM, TEXT_DIM).eval()
    batch = condition_batch(with_audio=(True, True, True))
    model.load_listener(listener)
    torch.testing.assert_close(model.encode(batch)[1], listener.predict(batch))
    # The meaning does not depend on the audio encoder: another encoder, the same meaning.
    audio_tokens = model.encode(batch)[0][:, : reading.audio_tokens].clone()
    torch.nn.init.normal_(model.audio.query.weight)
    torch.testing.assert_close(model.encode(batch)[1], listener.predict(batch))
    assert not torch.allclose(model.encode(batch)[0][:, : reading.audio_tokens], audio_tokens)
    model.freeze_listener()
    frozen = {name for name, parameter in model.named_parameters() if not parameter.requires_grad}
    assert frozen == {f"{part}.{name}" for part in ("meaning", "meaning_frames")
                      for name, _ in getattr(listener, part).named_parameters()}
    # The audio tokens are not detached: a loss on the condition tokens reaches the audio encoder.
    model.encode(batch)[0].sum().backward()
    assert model.audio.query.weight.grad is not None and model.audio.query.weight.grad.abs().sum() > 0


def test_a_frozen_listener_without_dropout_gives_its_inference_meaning_while_the_rest_trains():
    torch.manual_seed(0)
    reading = replace(MEANING, meaning_layers=1, dropout=0.5)
    listener = SpeechListener(reading, AUDIO_DIM, TEXT_DIM).eval()
    batch = condition_batch(with_audio=(True, True, True))
    heard = listener.predict(batch)
    for dropout in (True, False):
        model = ConditionEncoder(reading, AUDIO_DIM, TEXT_DIM)
        model.load_listener(listener)
        model.freeze_listener(dropout=dropout)
        model.train()
        assert model.audio.training  # the audio encoder still learns, with its dropout
        assert model.meaning_frames.training == dropout
        assert torch.allclose(model.encode(batch)[1], heard) != dropout
        model.eval()
        torch.testing.assert_close(model.encode(batch)[1], heard)


def test_a_frozen_audio_encoder_stays_in_eval_mode_and_out_of_the_gradient():
    torch.manual_seed(0)
    model = ConditionEncoder(replace(MEANING, dropout=0.5), AUDIO_DIM, TEXT_DIM).train()
    batch = condition_batch(with_audio=(True, True, True))
    assert not torch.allclose(model(batch), model(batch))  # the audio encoder's dropout
    model.freeze_audio_encoder()
    model.train()
    assert not model.audio.training and model.text.training
    torch.testing.assert_close(model(batch), model(batch))
    model(batch).sum().backward()
    assert all(parameter.grad is None for parameter in model.audio.parameters())
    assert model.text[0].weight.grad is not None and model.audio_type.grad is not None


def test_meaning_noise_turns_the_read_meaning_by_a_bounded_angle_in_training_only():
    from saymotion.models.conditioning import perturbed

    torch.manual_seed(0)
    meanings = torch.nn.functional.normalize(torch.randn(2000, TEXT_DIM), dim=-1)
    turned = perturbed(meanings, 1.0)
    torch.testing.assert_close(turned.norm(dim=-1), torch.ones(2000))
    cosine = (turned * meanings).sum(-1)
    # tan(angle) ~ U(0, 1): cosine between 1/sqrt(2) and 1, mean E[1/sqrt(1 + u^2)] = asinh(1) = 0.881.
    assert cosine.min() >= 1 / math.sqrt(2) - 1e-5 and cosine.max() <= 1 + 1e-6
    assert cosine.mean().item() == pytest.approx(math.asinh(1.0), abs=0.01)
    torch.testing.assert_close(perturbed(meanings, 0.0), meanings)
    # Inside the encoder: the meaning token differs from the plain one while training, never in eval mode,
    # and the predicted meaning that the alignment loss sees is left as it is.
    plain = ConditionEncoder(replace(MEANING, dropout=0.0), AUDIO_DIM, TEXT_DIM)
    noisy = ConditionEncoder(replace(MEANING, dropout=0.0, meaning_noise=1.0), AUDIO_DIM, TEXT_DIM)
    noisy.load_state_dict(plain.state_dict())
    batch = condition_batch(with_audio=(True, True, True))
    for model in (plain, noisy):
        model.train()
    (plain_tokens, plain_meaning), (noisy_tokens, noisy_meaning) = plain.encode(batch), noisy.encode(batch)
    torch.testing.assert_close(noisy_meaning, plain_meaning)
    torch.testing.assert_close(noisy_tokens[:, :-2], plain_tokens[:, :-2])
    assert not torch.allclose(noisy_tokens[:, -2], plain_tokens[:, -2])
    torch.testing.assert_close(noisy.eval().encode(batch)[0], plain.eval().encode(batch)[0])


def test_a_heard_meaning_is_drawn_towards_its_nearest_known_meanings_by_the_weight_asked():
    from saymotion.models.conditioning import SNAP_NEIGHBOURS, drawn_to_known

    torch.manual_seed(0)
    known = torch.nn.functional.normalize(torch.randn(40, TEXT_DIM), dim=-1)
    # Each heard meaning lies a little off one known meaning.
    heard = torch.nn.functional.normalize(known[:3] + 0.3 * torch.randn(3, TEXT_DIM), dim=-1)
    as_heard = drawn_to_known(heard, known, torch.zeros(3))
    torch.testing.assert_close(as_heard, heard)
    moved = drawn_to_known(heard, known, torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(moved.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(moved[0], heard[0])  # each row by its own weight
    target = drawn_to_known(heard, known, torch.ones(3))
    torch.testing.assert_close(moved[2], target[2])
    # Half way: the direction halfway between what was heard and the known meanings' mean.
    torch.testing.assert_close(moved[1], torch.nn.functional.normalize(heard[1] + target[1], dim=-1))
    assert (heard[1] @ target[1]) < (moved[1] @ target[1]) < 1
    # Fully drawn: the softmax-weighted mean of the nearest, which the far ones do not move.
    nearest = (heard[2] @ known.T).topk(SNAP_NEIGHBOURS)
    expected = torch.nn.functional.normalize(
        (torch.softmax(nearest.values / 0.05, -1)[:, None] * known[nearest.indices]).sum(0), dim=-1
    )
    torch.testing.assert_close(moved[2], expected)
    far = torch.cat([known, -heard[2:].expand(5, -1)])  # opposite to what was heard: never among the nearest
    torch.testing.assert_close(drawn_to_known(heard, far, torch.ones(3))[2], expected)


def test_condition_batches_carry_how_far_each_row_is_drawn_to_the_known_meanings():
    encoder = ConditionEncoder(replace(MEANING, dropout=0.0), AUDIO_DIM, TEXT_DIM).eval()
    batch = condition_batch(with_audio=(True, True, True))
    snapped = replace(batch, meaning_snap=torch.tensor([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="known meanings"):
        encoder.hear(snapped)
    _, heard = encoder.hear(batch)
    encoder.know_meanings(torch.nn.functional.normalize(torch.randn(5, TEXT_DIM), dim=-1))
    _, drawn = encoder.hear(snapped)
    torch.testing.assert_close(drawn[0], heard[0])
    assert not torch.allclose(drawn[1:], heard[1:])
    assert "known_meanings" not in encoder.state_dict()  # they come from the model folder, not the weights
    # Joined with a batch that draws nothing, that batch's rows are drawn by 0; indexing keeps each row's.
    joined = ConditionBatch.cat([batch, snapped])
    torch.testing.assert_close(joined.meaning_snap, torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 0.5]))
    assert joined.map(lambda tensor: tensor[[4]]).meaning_snap.tolist() == [1.0]
    assert ConditionBatch.cat([batch, batch]).meaning_snap is None


def test_contrastive_loss_prefers_the_words_spoken_over_the_mirrored_words_and_ignores_repeats():
    from saymotion.models.conditioning import contrastive_loss

    torch.manual_seed(0)
    spoken = torch.nn.functional.normalize(torch.randn(4, TEXT_DIM), dim=-1)
    spoken[3] = spoken[0]  # the same sentence in another voice is no negative
    mirrored = torch.nn.functional.normalize(spoken + torch.randn(4, TEXT_DIM), dim=-1)
    mirrored[2] = 0  # names no side
    hit = contrastive_loss(spoken, spoken, mirrored, 0.05)
    assert hit.item() < 0.05
    swapped = spoken.clone()
    swapped[1] = mirrored[1]  # heard the other side
    assert contrastive_loss(swapped, spoken, mirrored, 0.05).item() > hit.item() + 1.0


# --- masking, sampling, guidance ----------------------------------------------------------------


def masked_transformer(num_codes=20, max_tokens=12, seed=0):
    torch.manual_seed(seed)
    return MaskedTransformer(MaskedTransformerConfig(**TINY_TRANSFORMER), TINY_CONDITION, num_codes, max_tokens,
                             AUDIO_DIM, TEXT_DIM).eval()


def test_corruption_masks_a_cosine_fraction_inside_each_length():
    model = masked_transformer(max_tokens=64)
    torch.manual_seed(1)
    codes = torch.randint(0, 20, (400, 64))
    lengths = torch.cat([torch.tensor([1, 2]), torch.randint(40, 65, (398,))])
    inputs, targets = model.corrupt(codes, lengths)
    valid = torch.arange(64)[None] < lengths[:, None]
    assert not bool((targets & ~valid).any())
    assert bool((targets.sum(1) >= 1).all())
    assert bool((inputs[~valid] == model.pad_id).all())
    # E[cos(u pi / 2)] = 2 / pi of each sequence is chosen (rounded up: at most 1/40 more here).
    fraction = (targets.sum(1) / lengths).float()[2:].mean().item()
    assert 2 / math.pi - 0.04 < fraction < 2 / math.pi + 0.06
    chosen = inputs[targets]
    share_masked = (chosen == model.mask_id).float().mean().item()
    assert 0.7 < share_masked < 0.9
    assert bool((inputs[valid & ~targets] == codes[valid & ~targets]).all())


def test_cosine_schedule_endpoints():
    torch.testing.assert_close(cosine_schedule(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([1.0, math.sqrt(0.5), 0.0]), atol=1e-6, rtol=0)


def test_top_k_and_greedy_sampling():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    filtered = top_k_filter(logits, 2)
    assert torch.isinf(filtered).tolist() == [[True, False, True, False]]
    codes, probs = sample_codes(logits, temperature=0.0, top_k=2, generator=None)
    assert codes.tolist() == [1]
    assert probs.item() == pytest.approx(math.exp(3) / (math.exp(3) + math.exp(2)))
    draws = sample_codes(logits.repeat(500, 1), 1.0, 2, torch.Generator().manual_seed(0))[0]
    assert set(draws.tolist()) == {1, 3}


def test_repeat_penalty_lowers_only_decoded_neighbours_codes_once_each():
    logits = torch.zeros(1, 5, 6)
    mask, pad = 6, 7
    codes = torch.tensor([[2, mask, 2, mask, pad]])
    lowered = penalise_neighbour_repeats(logits, codes, 1.5)
    expected = torch.zeros(1, 5, 6)
    expected[0, 1, 2] = expected[0, 3, 2] = -1.5  # both neighbours hold 2: lowered once, not twice
    torch.testing.assert_close(lowered, expected)
    assert torch.equal(penalise_neighbour_repeats(logits, codes, 0.0), logits)


def test_choice_noise_shuffles_early_choices_and_fades_by_the_last_iteration():
    confidence = torch.linspace(0.05, 0.95, 10)[None].repeat(200, 1)
    torch.testing.assert_close(choice_scores(confidence, 0.0, 0.1, None), confidence.log())
    torch.testing.assert_close(choice_scores(confidence, 4.5, 1.0, torch.Generator().manual_seed(0)), confidence.log())
    noisy = choice_scores(confidence, 4.5, 0.1, torch.Generator().manual_seed(0))
    least_sure = noisy.argmin(1)
    assert len(set(least_sure.tolist())) > 5  # not always position 0, the least confident


def test_guidance_formulas():
    uncond, audio, both = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([4.0])
    assert single_guidance(uncond, audio, 3.0).item() == 4 * 2 - 3 * 1
    # nested: 1 + (1 + 2)(2 - 1) + (1 + 0.5)(4 - 2) = 7
    assert combine_guidance(uncond, audio, both, 2.0, 0.5).item() == 7.0
    # equal scales collapse to the single formula on the joint condition
    assert combine_guidance(uncond, audio, both, 1.5, 1.5).item() == single_guidance(uncond, both, 1.5).item()


def test_guided_condition_variants():
    both = condition_batch(with_audio=(True,) * 3, with_text=(True,) * 3)
    nested = GuidedCondition.build(both, 2.0, 0.5)
    assert nested.variants == 3
    assert nested.batch.use_audio.tolist() == [False] * 3 + [True] * 3 + [True] * 3
    assert nested.batch.use_text.tolist() == [False] * 6 + [True] * 3
    logits = torch.tensor([1.0] * 3 + [2.0] * 3 + [4.0] * 3)
    assert nested.combine(logits).tolist() == [7.0] * 3
    assert GuidedCondition.build(both, 1.0, 1.0).variants == 2
    text_only = condition_batch(with_audio=(False,) * 3, with_text=(True,) * 3)
    single = GuidedCondition.build(text_only, 9.0, 0.5)
    assert single.variants == 2 and single.audio_scale == 0.5
    none = GuidedCondition.build(text_only.restricted(False, False), 1.0, 1.0)
    assert none.variants == 1


class RecordingTransformer(MaskedTransformer):
    """Records how many positions are still masked at each decoding iteration."""

    def logits(self, codes, lengths, cond_tokens):
        self.masked_counts.append((codes == self.mask_id).sum(1)[: len(codes) // self.variants].tolist())
        return super().logits(codes, lengths, cond_tokens)


def test_maskgit_decoding_follows_the_cosine_schedule_and_is_seeded():
    torch.manual_seed(0)
    model = RecordingTransformer(MaskedTransformerConfig(**TINY_TRANSFORMER), TINY_CONDITION, 20, 12, AUDIO_DIM, TEXT_DIM).eval()
    cond = condition_batch()
    lengths = torch.tensor([12, 7, 3])
    model.masked_counts, model.variants = [], 3  # audio+text guidance with different scales: 3 variants
    kwargs = dict(iterations=5, temperature=1.0, top_k=0, audio_scale=2.0, text_scale=1.0)
    codes = model.generate(lengths, cond, generator=torch.Generator().manual_seed(7), **kwargs)
    expected = [[math.floor(n * math.cos(math.pi / 2 * t / 5)) for n in (12, 7, 3)] for t in range(5)]
    expected[0] = [12, 7, 3]
    assert model.masked_counts == expected[: len(model.masked_counts)]
    assert len(model.masked_counts) == 5
    valid = torch.arange(12)[None] < lengths[:, None]
    assert bool((codes[valid] < 20).all()) and bool((codes[~valid] == model.pad_id).all())
    model.masked_counts = []
    again = model.generate(lengths, cond, generator=torch.Generator().manual_seed(7), **kwargs)
    assert torch.equal(codes, again)
    other = model.generate(lengths, cond, generator=torch.Generator().manual_seed(8), **kwargs)
    assert not torch.equal(codes, other)


def test_generator_positions_are_fixed_sinusoids_on_the_scale_of_the_code_embeddings():
    # Learned positions started at 0.02 beside N(0, 1) code embeddings: the generator shipped until
    # session 21 gave nearly the same guess at every masked position of a walk (docs/design.md).
    torch.manual_seed(0)
    config = MaskedTransformerConfig(**{**TINY_TRANSFORMER, "dim": 64})
    model = MaskedTransformer(config, TINY_CONDITION, 256, 12, AUDIO_DIM, TEXT_DIM)
    assert torch.equal(model.positions, sinusoidal_positions(len(model.positions), 64))
    assert "positions" not in model.state_dict()  # rebuilt, not stored
    ratio = model.positions.norm(dim=1).mean() / model.token_embedding.weight.norm(dim=1).mean()
    assert 0.5 < ratio < 2
    learned = MaskedTransformer(replace(config, positions="learned"), TINY_CONDITION, 256, 12, AUDIO_DIM, TEXT_DIM)
    assert "positions" in learned.state_dict() and learned.positions.requires_grad
    # Shown the same codes in another order, the fresh model guesses the masked ones differently;
    # with learned positions it can hardly tell the orders apart.
    codes = torch.randint(0, 256, (1, 12))
    codes[0, 1::2] = model.mask_id
    shuffled = codes.clone()
    shuffled[0, 0::2] = codes[0, 0::2].flip(0)
    cond = condition_batch(with_audio=(False,), with_text=(True,), audio_lengths=(1,))

    def order_change(transformer: MaskedTransformer) -> float:
        with torch.no_grad():
            tokens = transformer.eval().encode_condition(cond)
            first, second = (transformer.logits(c, torch.tensor([12]), tokens)[0, 1::2] for c in (codes, shuffled))
        return float((first - second).norm() / first.norm())

    assert order_change(model) > 5 * order_change(learned)


def test_repeat_penalty_cuts_the_stutter_of_a_model_that_favours_one_code():
    torch.manual_seed(0)
    model = MaskedTransformer(MaskedTransformerConfig(**TINY_TRANSFORMER), TINY_CONDITION, 20, 12, AUDIO_DIM, TEXT_DIM).eval()
    with torch.no_grad():
        model.head.bias[3] += 4.0  # code 3 about e^4 times as likely as any other
    lengths, cond = torch.tensor([12] * 3), condition_batch()
    kwargs = dict(iterations=5, temperature=1.0, top_k=0, audio_scale=2.0, text_scale=1.0)

    def repeats(**extra) -> float:
        codes = model.generate(lengths, cond, generator=torch.Generator().manual_seed(0), **kwargs, **extra)
        return (codes[:, 1:] == codes[:, :-1]).float().mean().item()

    plain = repeats()
    assert plain > 0.3
    assert repeats(repeat_penalty=6.0) < plain / 2
    noisy = repeats(choice_noise=4.5)
    assert noisy != plain  # the noise changes which codes are kept
    assert repeats(choice_noise=4.5) == noisy  # and is drawn from the seeded generator


def test_residual_transformer_sums_lower_layers_and_keeps_the_base_layer():
    torch.manual_seed(0)
    model = ResidualTransformer(ResidualTransformerConfig(**TINY_TRANSFORMER), TINY_CONDITION, 20, 4, 12, AUDIO_DIM, TEXT_DIM).eval()
    codes = torch.randint(0, 20, (2, 5, 4))
    summed = model.embed_lower_layers(codes, torch.tensor([1, 3]))
    torch.testing.assert_close(summed[0], model.code_embeddings[0][codes[0, :, 0]])
    torch.testing.assert_close(summed[1], sum(model.code_embeddings[j][codes[1, :, j]] for j in range(3)))
    loss, values = model.train()(codes, torch.tensor([5, 3]), _two(condition_batch()))
    assert torch.isfinite(loss) and 0 <= values["accuracy"].item() <= 1
    base = torch.randint(0, 20, (3, 6))
    lengths = torch.tensor([6, 2, 4])
    out = model.eval().generate(base, lengths, condition_batch(), temperature=1.0, top_k=5, scale=2.0,
                                generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 6, 4)
    valid = torch.arange(6)[None] < lengths[:, None]
    assert torch.equal(out[..., 0][valid], base[valid])
    assert bool((out[~valid] == 0).all())


def _two(batch: ConditionBatch) -> ConditionBatch:
    return batch.map(lambda tensor: tensor[:2])


@pytest.mark.slow
def test_lean_minilm_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    from saymotion.models.minilm import SentenceEncoder, model_folder

    texts = ["wave your left hand", "Could you, uh, take a bow over roughly 4 seconds, with lots of energy?", "x"]
    expected = SentenceTransformer(str(model_folder()), device="cpu").encode(texts, normalize_embeddings=True)
    actual = SentenceEncoder().encode(texts, batch_size=2)
    assert actual.shape == (3, 384) and actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.parametrize("read_audio_tokens", [True, False])
def test_a_length_predictor_can_read_the_meaning_of_speech_without_the_audio_tokens(read_audio_tokens):
    from saymotion.config import LengthConfig
    from saymotion.models.length_predictor import LengthPredictor

    torch.manual_seed(0)
    reading = replace(MEANING, meaning_layers=1)  # a frame reader: the meaning does not read the audio encoder
    model = LengthPredictor(LengthConfig(hidden=8, read_audio_tokens=read_audio_tokens), reading, max_tokens=40,
                            audio_dim=AUDIO_DIM, text_dim=TEXT_DIM).eval()
    batch = condition_batch(with_audio=(True, True, True))
    before = model.logits(batch)
    torch.nn.init.normal_(model.condition.audio.query.weight)  # other audio tokens, the same meaning
    assert torch.allclose(model.logits(batch), before) != read_audio_tokens
    # Each guess still follows the meaning and the written instruction.
    torch.nn.init.normal_(model.condition.meaning_frames.proj.weight)
    assert not torch.allclose(model.logits(batch), before)


def test_a_length_predictor_reads_the_meaning_as_heard_even_when_asked_to_draw_it():
    from saymotion.config import LengthConfig
    from saymotion.models.length_predictor import LengthPredictor

    torch.manual_seed(0)
    model = LengthPredictor(LengthConfig(hidden=8), replace(MEANING, dropout=0.0), max_tokens=40,
                            audio_dim=AUDIO_DIM, text_dim=TEXT_DIM).eval()
    model.condition.know_meanings(torch.nn.functional.normalize(torch.randn(5, TEXT_DIM), dim=-1))
    batch = condition_batch(with_audio=(True, True, True))
    snapped = replace(batch, meaning_snap=torch.ones(3))
    torch.testing.assert_close(model.logits(snapped), model.logits(batch))
    # Its encoder alone does draw them: the length predictor is what declines.
    assert not torch.allclose(model.condition.hear(snapped)[1], model.condition.hear(batch)[1])


def test_length_temperature_sharpens_the_drawn_lengths_towards_the_likeliest():
    from saymotion.config import LengthConfig
    from saymotion.models.length_predictor import LengthPredictor

    model = LengthPredictor(LengthConfig(hidden=8), TINY_CONDITION, max_tokens=40, audio_dim=AUDIO_DIM)
    probs = torch.full((40,), 1e-6)
    probs[29], probs[8] = 0.6, 0.4  # a wave's length and, less likely, a raise's
    model.logits = lambda cond: probs.log().expand(4000, -1)  # every row the same two-mode guess
    def share_of_second_mode(temperature: float) -> float:
        counts = model.predict(None, torch.Generator().manual_seed(0), temperature)
        assert set(counts.tolist()) <= {9, 30}
        return float((counts == 9).float().mean())

    assert share_of_second_mode(1.0) == pytest.approx(0.4, abs=0.03)  # drawn from the guess as it is
    assert share_of_second_mode(0.5) == pytest.approx(0.4**2 / (0.4**2 + 0.6**2), abs=0.03)
    assert share_of_second_mode(0.0) == 0.0
    assert model.predict(None).tolist() == [30] * 4000  # no generator: the likeliest
