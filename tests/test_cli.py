import json
import os
import subprocess
import sys

import numpy as np
import pytest

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


def test_multi_worker_without_tf_config_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cli.main(["train", "lstm_tiny", "--strategy", "multi_worker"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TF_CONFIG environment variable" in err


def write_reviews(path, copies=30):
    rows = ["sentence\tlabel"]
    for _ in range(copies):
        rows += [
            "a charming warm film\tpos",
            "lovely and charming\tpos",
            "a dull cold film\tneg",
            "boring and dull\tneg",
        ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_train_evaluate_predict_on_a_text_file(tmp_path, capsys):
    data = write_reviews(tmp_path / "reviews.tsv")
    run = str(tmp_path / "run")
    args = ["train", "attentive_lstm_tiny", "--data", data, "--epochs", "6"]
    assert cli.main([*args, "--vocabulary-size", "60", "--out", run]) == 0
    results = json.loads(open(os.path.join(run, "results.json")).read())
    assert results["val_examples"] == 12
    assert results["val_accuracy"] > 0.9 and results["val_macro_f1"] > 0.9
    assert set(results["report"]["per_class"]) == {"neg", "pos"}
    for picture in ("training_curves.png", "confusion_matrix.png"):
        assert os.path.getsize(os.path.join(run, picture)) > 1000

    training_matrix = open(os.path.join(run, "confusion_matrix.png"), "rb").read()
    assert cli.main(["evaluate", run, "--data", data]) == 0
    evaluation_dir = os.path.join(run, "evaluation")  # the run's own files stay
    evaluation = json.loads(
        open(os.path.join(evaluation_dir, "evaluation.json")).read()
    )
    assert evaluation["report"]["accuracy"] > 0.9
    assert os.path.getsize(os.path.join(evaluation_dir, "confusion_matrix.png")) > 1000
    assert (
        open(os.path.join(run, "confusion_matrix.png"), "rb").read() == training_matrix
    )

    capsys.readouterr()
    heatmap = str(tmp_path / "attention.png")
    texts = ["a charming film", "dull and boring"]
    assert cli.main(["predict", run, *texts, "--attention-plot", heatmap]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("pos\t") and lines[1].startswith("neg\t")
    assert os.path.getsize(heatmap) > 1000


def test_bad_data_file_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\na film\n", encoding="utf-8")
    assert cli.main(["train", "lstm_tiny", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.tsv" in err


def test_every_command_has_help(capsys):
    for command in ("list", "train", "evaluate", "predict", "export", "bench"):
        assert cli.main([command, "--help"]) == 0
        assert "usage: ctxmem" in capsys.readouterr().out


def test_every_train_option_has_help_with_its_default(capsys):
    assert cli.main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 32)", "(default: 0.1)", "(default: 128)", "(default: 0)"):
        assert shown in out
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    assert all(action.help for action in train._actions)


BAD_ARGUMENTS = [
    (["train", "transformer_smal"], "Did you mean 'transformer_small'?"),
    (["train", "lstm_tiny", "--epochs", "0"], "--epochs"),
    (["train", "lstm_tiny", "--batch-size", "0"], "--batch-size"),
    (["train", "lstm_tiny", "--sequence-length", "0"], "--sequence-length"),
    (["train", "lstm_tiny", "--validation-split", "1.0"], "--validation-split"),
    (["train", "lstm_tiny", "--validation-split", "-0.5"], "--validation-split"),
    (["train", "lstm_tiny", "--data", "{tmp}/missing.tsv"], "missing.tsv"),
    (["train", "lstm_tiny", "--out", "{tmp}/a_file/run"], "cannot be created"),
    (["predict", "sst2_sentimen", "a film"], "Did you mean 'sst2_sentiment'?"),
    (["evaluate", "{tmp}/no_run", "--data", "{tmp}/a_file"], "no_run"),
    (["export", "transformer_tiny", "{tmp}/serving"], "without weights"),
    (["frobnicate"], "invalid choice"),
]


def test_bad_arguments_answer_in_one_line_without_tensorflow(tmp_path):
    """`--help`, `list` and every argument error: exit code 2 (0 for the first
    two), one line on stderr, and TensorFlow never imported."""
    (tmp_path / "a_file").write_text("x")
    calls = [["--help"], ["list"]] + [
        [arg.format(tmp=tmp_path) for arg in args] for args, _ in BAD_ARGUMENTS
    ]
    script = """if True:
        import contextlib, io, json, sys
        from keras_ctxmem.cli import main
        results = []
        for argv in json.loads(sys.argv[1]):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                results.append([main(argv), err.getvalue()])
        loaded = ["tensorflow" in sys.modules, "keras" in sys.modules]
        print(json.dumps([results, *loaded]))
    """
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(calls)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    results, tensorflow_imported, keras_imported = json.loads(done.stdout)
    assert not tensorflow_imported and not keras_imported
    assert results[0] == [0, ""] and results[1] == [0, ""]
    for (code, err), (_, expected) in zip(results[2:], BAD_ARGUMENTS, strict=True):
        assert code == 2 and err.count("\n") == 1 and expected in err, err
        assert err.startswith("ctxmem")


def test_train_and_evaluate_a_memory_network_on_babi_files(tmp_path, capsys):
    sample = os.path.join(
        os.path.dirname(__file__), "..", "tutorials", "data", "babi_qa1_sample"
    )
    official = tmp_path / "en"  # the official layout: long names, no valid file
    official.mkdir()
    train_text = open(os.path.join(sample, "qa1_sample_train.txt")).read()
    (official / "qa1_single-supporting-fact_train.txt").write_text(train_text)
    test_file = official / "qa1_single-supporting-fact_test.txt"
    test_file.write_text(open(os.path.join(sample, "qa1_sample_valid.txt")).read())
    run = str(tmp_path / "run")
    argv = ["train", "memory_network_tiny", "--data", str(official)]
    assert cli.main([*argv, "--epochs", "2", "--no-xla", "--out", run]) == 0
    assert "900 training and 100 validation questions" in capsys.readouterr().out
    results = json.loads(open(os.path.join(run, "results.json")).read())
    assert results["tasks"] == [1] and set(results["valid_error"]) == {"1"}

    out = str(tmp_path / "evaluation")
    assert cli.main(["evaluate", run, "--data", str(official), "--out", out]) == 0
    evaluation = json.loads(open(os.path.join(out, "evaluation.json")).read())
    assert evaluation["num_examples"] == 200  # the test file, not train
    assert evaluation["per_task_error"]["1"] == pytest.approx(
        1 - evaluation["accuracy"]
    )


def test_list_marks_trained_presets(tmp_path, capsys, monkeypatch):
    TransformerClassifier.from_preset("transformer_tiny").save_to_preset(
        str(tmp_path / "my_trained")
    )
    monkeypatch.setenv("KERAS_CTXMEM_PRESETS", str(tmp_path))
    assert cli.main(["list"]) == 0
    lines = {
        line.split()[0]: line.split()[1]
        for line in capsys.readouterr().out.splitlines()
    }
    assert lines["my_trained"] == "trained" and lines["transformer_tiny"] == "config"


def test_a_trained_preset_name_works_like_a_run_directory(
    tmp_path, capsys, monkeypatch
):
    from keras_ctxmem.preprocessing import TextPreprocessor

    data = write_reviews(tmp_path / "reviews.tsv", copies=2)
    preprocessor = TextPreprocessor(
        vocabulary=["[PAD]", "[UNK]", "a", "charming", "dull", "film"],
        sequence_length=6,
    )
    run = tmp_path / "run"
    model = TransformerClassifier.from_preset(
        "transformer_tiny", preprocessor=preprocessor, label_names=["neg", "pos"]
    )
    model.save_to_preset(str(run / "preset"))  # a run directory, as `train` writes
    model.save_to_preset(str(tmp_path / "presets" / "reviews_tiny"))
    monkeypatch.setenv("KERAS_CTXMEM_PRESETS", str(tmp_path / "presets"))
    for source in (str(run), str(run / "preset"), "reviews_tiny"):
        assert cli.main(["predict", source, "a charming film"]) == 0
        assert capsys.readouterr().out.endswith("\ta charming film\n")
        out = str(tmp_path / "evaluation" / os.path.basename(source))
        assert cli.main(["evaluate", source, "--data", data, "--out", out]) == 0
        assert os.path.exists(os.path.join(out, "evaluation.json"))
        base = str(tmp_path / "serving" / os.path.basename(source))
        assert cli.main(["export", source, base]) == 0
        assert os.path.exists(os.path.join(base, "1", "saved_model.pb"))
    # A preset is not a run: its evaluation needs a place of its own.
    assert cli.main(["evaluate", "reviews_tiny", "--data", data]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err
    assert cli.main(["predict", "reviews_tin", "a film"]) == 2
    assert "Did you mean 'reviews_tiny'" in capsys.readouterr().err
