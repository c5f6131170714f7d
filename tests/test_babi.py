import json
import os

import numpy as np
import pytest

from keras_ctxmem.babi import (
    PER_TASK,
    answer_questions,
    evaluate_memory_network,
    split_validation,
    train_memory_network,
)
from keras_ctxmem.data.readers import read_babi
from keras_ctxmem.zoo import load_preset

SAMPLE = os.path.join(
    os.path.dirname(__file__), "..", "tutorials", "data", "babi_qa1_sample"
)
TRAIN = os.path.join(SAMPLE, "qa1_sample_train.txt")
TRAINED_JOINT = os.path.join(
    os.path.dirname(__file__),
    "..",
    "keras_ctxmem",
    "presets",
    "babi_memory_network_joint",
)
VALID = os.path.join(SAMPLE, "qa1_sample_valid.txt")


def test_split_validation_holds_out_a_seeded_tenth_of_each_task(tmp_path):
    data = read_babi([TRAIN, VALID], task_ids=[1, 2])
    train, valid = split_validation(data, 0.1, seed=3)
    assert len(train) + len(valid) == len(data)
    for task in (1, 2):
        in_task = sum(t == task for t in data.task_ids)
        assert sum(t == task for t in valid.task_ids) == round(0.1 * in_task)
    again = split_validation(data, 0.1, seed=3)[1]
    assert again.questions == valid.questions


def test_paper_recipe_learns_qa1_and_the_preset_answers_text(tmp_path):
    train, valid = read_babi(TRAIN), read_babi(VALID)
    runs = []
    recipe = PER_TASK.replace(
        epochs=20,
        restarts=2,
        halve_every=10,
        linear_start="auto",
        max_linear_start_epochs=10,
    )
    model, summary = train_memory_network(train, valid, recipe, log=runs.append)
    # Best of the restarts, chosen on validation error.
    assert [run["seed"] for run in runs] == [0, 1]
    assert summary["valid_mean_error"] == min(r["valid_mean_error"] for r in runs)
    assert 1 <= summary["linear_epochs"] <= recipe.max_linear_start_epochs
    scores = evaluate_memory_network(model, valid)
    assert scores["accuracy"] > 0.9
    assert scores["per_task"][1]["error"] == pytest.approx(1 - scores["accuracy"])

    model.save_to_preset(tmp_path / "preset")
    loaded = load_preset(str(tmp_path / "preset"))
    assert loaded.vocabulary == model.vocabulary
    assert answer_questions(loaded, valid) == answer_questions(model, valid)
    answers = np.array(answer_questions(loaded, valid))
    assert np.mean(answers == np.array(valid.answers)) == scores["accuracy"]


def test_words_the_model_never_saw_are_dropped_and_unknown_answers_are_wrong(
    tmp_path,
):
    train, valid = read_babi(TRAIN), read_babi(VALID)
    model, _ = train_memory_network(
        train, valid, PER_TASK.replace(epochs=1, linear_start=0)
    )
    path = tmp_path / "qa1_new_test.txt"
    path.write_text(
        "1 Zorblax went to the kitchen.\n2 Where is Zorblax?\tkitchen\t1\n"
        "3 Where is Zorblax?\tnarnia\t1\n"
    )
    scores = evaluate_memory_network(model, read_babi(str(path)))
    assert scores["num_examples"] == 2
    assert scores["per_task"][1]["error"] >= 0.5  # "narnia" is never right
    assert json.dumps(scores)  # plain numbers, ready for evaluation.json


# Stories written for this test in the style of bAbI tasks 1, 11, 12 and 20.
REAL_STORIES = {
    1: "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
    "3 Where is Mary?\tbathroom\t1\n4 Daniel went back to the garden.\n"
    "5 Mary travelled to the office.\n6 Where is Mary?\toffice\t5\n"
    "7 Where is Daniel?\tgarden\t4\n",
    11: "1 Sandra went to the kitchen.\n2 Afterwards she journeyed to the garden.\n"
    "3 Where is Sandra?\tgarden\t1 2\n",
    12: "1 John and Mary travelled to the bedroom.\n"
    "2 Sandra and John moved to the kitchen.\n3 Where is John?\tkitchen\t2\n",
    20: "1 Jason is thirsty.\n2 Where will jason go?\tkitchen\t1\n",
}


@pytest.mark.parametrize(
    "preset", ["babi_memory_network_joint", "babi_memory_network_10k"]
)
def test_shipped_joint_presets_answer_real_questions(tmp_path, preset):
    paths = []
    for task, text in REAL_STORIES.items():
        paths.append(tmp_path / f"qa{task}_written_test.txt")
        paths[-1].write_text(text)
    data = read_babi([str(p) for p in paths])
    model = load_preset(preset)
    assert model.vocabulary is not None and model.embedding_dim == 50
    assert answer_questions(model, data) == data.answers
