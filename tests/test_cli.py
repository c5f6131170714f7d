import json
import os

import numpy as np

from keras_ctxmem import cli
from keras_ctxmem.data.synthetic import membership_task
from keras_ctxmem.zoo import TransformerClassifier


def test_list_prints_every_family(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("transformer_tiny", "lstm_small", "attentive_lstm_base"):
        assert name in out


def test_train_writes_a_preset_and_results(tmp_path, capsys, monkeypatch):
    small = lambda seed=0: membership_task(num_train=256, num_val=64, seed=seed)  # noqa: E731
    monkeypatch.setitem(cli_tasks(), "membership", small)
    out_dir = str(tmp_path / "run")
    assert (
        cli.main(["train", "transformer_tiny", "--epochs", "1", "--out", out_dir]) == 0
    )
    assert "Evaluation on 64 held-out examples" in capsys.readouterr().out
    results = json.loads(open(os.path.join(out_dir, "results.json")).read())
    assert results["preset"] == "transformer_tiny" and results["epochs"] == 1
    model = TransformerClassifier.from_preset(os.path.join(out_dir, "preset"))
    task = small()
    model.compile()
    _, accuracy = model.evaluate(task.x_val, task.y_val, verbose=0)
    assert np.isclose(accuracy, results["val_accuracy"], atol=1e-4)
    assert os.listdir(os.path.join(out_dir, "logs"))  # TensorBoard logs


def test_errors_are_one_line(capsys):
    assert cli.main(["train", "transformer_huge"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "transformer_tiny" in err
    assert cli.main(["train", "lstm_tiny", "--task", "sorting"]) == 2
    assert "membership" in capsys.readouterr().err


def cli_tasks():
    from keras_ctxmem.data import synthetic

    return synthetic.TASKS


def test_export_writes_a_versioned_saved_model(tmp_path, capsys):
    from keras_ctxmem.preprocessing import TextPreprocessor

    texts = ["a charming film", "a dull film"]
    preprocessor = TextPreprocessor.from_corpus(
        texts, vocabulary_size=40, sequence_length=6
    )
    TransformerClassifier.from_preset(
        "transformer_tiny", preprocessor=preprocessor
    ).save_to_preset(str(tmp_path / "preset"))
    base = str(tmp_path / "serving")
    assert cli.main(["export", str(tmp_path / "preset"), base]) == 0
    assert "written to" in capsys.readouterr().out
    assert os.path.exists(os.path.join(base, "1", "saved_model.pb"))
    assert cli.main(["export", str(tmp_path / "preset"), base, "--version", "1"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_export_without_preprocessor_is_one_clear_line(tmp_path, capsys):
    TransformerClassifier.from_preset("transformer_tiny").save_to_preset(
        str(tmp_path / "preset")
    )
    assert cli.main(["export", str(tmp_path / "preset"), str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "preprocessor" in err


def test_unavailable_strategy_is_one_clear_line(capsys):
    assert cli.main(["train", "lstm_tiny", "--strategy", "multi_worker"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keras-team/keras#20585" in err
