import numpy as np
import pytest

from keras_ctxmem.fine_tuning import (
    LinearWarmupLinearDecay,
    fine_tune,
    fine_tuning_optimizer,
    freeze_backbone,
)
from keras_ctxmem.zoo import LSTMMaskedLM, TransformerClassifier, create_model
from tests.helpers import marker_task

TINY = {"vocabulary_size": 50, "max_sequence_length": 32, "num_layers": 2}


def test_schedule_warms_up_then_decays_to_zero():
    schedule = LinearWarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    rates = np.array([float(schedule(step)) for step in range(101)])
    assert rates.argmax() == 9
    assert rates[9] == pytest.approx(1e-3)
    assert np.all(np.diff(rates[:10]) > 0) and np.all(np.diff(rates[10:]) < 0)
    assert rates[100] == 0
    assert LinearWarmupLinearDecay(**schedule.get_config()).total_steps == 100
    with pytest.raises(ValueError, match="warmup_steps"):
        LinearWarmupLinearDecay(1e-3, total_steps=10, warmup_steps=10)


def test_gradient_accumulation_updates_every_k_batches():
    model = TransformerClassifier.from_preset("transformer_tiny", **TINY)
    model.compile(
        optimizer=fine_tuning_optimizer(10, 1e-2, gradient_accumulation_steps=2)
    )
    x, y = marker_task(8, vocabulary_size=50)
    before = model.head.get_weights()[0].copy()
    model.train_on_batch(x, y)
    np.testing.assert_array_equal(model.head.get_weights()[0], before)
    model.train_on_batch(x, y)
    assert np.abs(model.head.get_weights()[0] - before).max() > 0


def test_freezing_keeps_the_lower_blocks():
    model = TransformerClassifier.from_preset("transformer_tiny", **TINY)
    freeze_backbone(model, trainable_blocks=1)
    trainable = {v.path.split("/")[0] for v in model.trainable_weights}
    assert trainable == {"encoder_block_1", "final_norm", "head"}
    frozen = [v.numpy().copy() for v in model.backbone.non_trainable_weights]
    x, y = marker_task(64, vocabulary_size=50)
    model.compile()
    model.fit(x, y, epochs=1, verbose=0)
    for value, variable in zip(
        frozen, model.backbone.non_trainable_weights, strict=True
    ):
        np.testing.assert_array_equal(value, variable.numpy())
    with pytest.raises(ValueError, match="trainable_blocks"):
        freeze_backbone(model, trainable_blocks=3)
    with pytest.raises(ValueError, match="no `backbone`"):
        freeze_backbone(create_model("lstm_tiny", model_class=LSTMMaskedLM))


def test_freezing_an_lstm_keeps_the_embedding_and_lower_layers():
    model = create_model("lstm_tiny", vocabulary_size=50, num_layers=2)
    freeze_backbone(model, trainable_blocks=1)
    trainable = {v.path.split("/")[0] for v in model.trainable_weights}
    assert trainable == {"bidirectional_lstm_1", "head"}
    freeze_backbone(model)
    assert {v.path.split("/")[0] for v in model.trainable_weights} == {"head"}


def test_fine_tune_learns_and_stops_early_with_the_best_weights():
    x, y = marker_task(512, vocabulary_size=50)
    model = TransformerClassifier.from_preset("transformer_tiny", **TINY)
    history = fine_tune(
        model,
        x[:448],
        y[:448],
        validation_data=(x[448:], y[448:]),
        epochs=8,
        learning_rate=3e-3,
        patience=1,
    )
    assert max(history.history["val_accuracy"]) > 0.9

    # Labels flipped in validation: validation loss rises once the task is
    # learnt, so training stops and the weights of the best epoch come back.
    model = TransformerClassifier.from_preset("transformer_tiny", **TINY)
    history = fine_tune(
        model,
        x[:448],
        y[:448],
        validation_data=(x[448:], 1 - y[448:]),
        epochs=8,
        learning_rate=3e-3,
        patience=0,
    )
    losses = history.history["val_loss"]
    assert len(losses) < 8
    best = min(losses)
    assert model.evaluate(x[448:], 1 - y[448:], verbose=0)[0] == pytest.approx(
        best, rel=1e-4
    )
