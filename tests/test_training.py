import keras
import pytest

from keras_ctxmem.training import (
    default_optimizer,
    set_precision,
    warmup_cosine_schedule,
)


def test_schedule_warms_up_then_decays_to_zero():
    schedule = warmup_cosine_schedule(1e-3, total_steps=100, warmup_fraction=0.1)
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    assert rates[0] == 0.0
    assert rates[1] == pytest.approx(5e-4)
    assert rates[2] == pytest.approx(1e-3)
    assert rates[2] > rates[3] > rates[4]
    assert rates[4] == pytest.approx(0.0, abs=1e-9)


def test_default_optimizer_is_adamw_with_schedule():
    optimizer = default_optimizer(2e-3, total_steps=50)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.weight_decay == 0.01
    assert isinstance(
        optimizer.learning_rate_schedule
        if hasattr(optimizer, "learning_rate_schedule")
        else optimizer._learning_rate,
        keras.optimizers.schedules.LearningRateSchedule,
    )
    open_ended = default_optimizer(2e-3)
    schedule = open_ended._learning_rate
    assert float(schedule(0)) < float(schedule(99)) == pytest.approx(2e-3)
    assert float(schedule(399)) == pytest.approx(1e-3)  # 1/sqrt(step) decay


def test_set_precision_checks_the_name():
    set_precision("mixed_bfloat16")
    assert keras.config.dtype_policy().name == "mixed_bfloat16"
    with pytest.raises(ValueError, match="mixed_float16"):
        set_precision("float8")


def test_default_compile_is_the_fastest_executor_for_the_device():
    import tensorflow as tf

    from keras_ctxmem.training import resolve_jit_compile
    from keras_ctxmem.zoo import LSTMClassifier

    on_accelerator = bool(tf.config.list_physical_devices("GPU"))
    assert resolve_jit_compile("auto") is on_accelerator  # TensorFlow backend
    assert resolve_jit_compile(True) is True and resolve_jit_compile(False) is False
    model = LSTMClassifier.from_preset("lstm_tiny", vocabulary_size=20)
    model.compile()
    assert model.jit_compile is on_accelerator
    model.compile(jit_compile=True)
    assert model.jit_compile is True
