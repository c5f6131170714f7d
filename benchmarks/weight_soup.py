"""A uniform "model soup" (Wortsman et al. 2022): the average of the weights of
several models fine-tuned from the same pre-trained start, scored on a labelled
TSV/CSV and saved as one preset.

Each input is a preset directory of the same architecture and vocabulary (e.g.
`text_classification.py --pretrained ... --seed N --save-preset DIR` for a few
seeds). The soup is one model, as cheap to run as each of its ingredients; the
script prints every ingredient's accuracy beside the soup's, on raw strings,
and beside the ensemble's (the average of the ingredients' probabilities: N
models to run, the usual upper reference for a soup).

    KERAS_BACKEND=jax python benchmarks/weight_soup.py \\
        --presets runs/sst2_ft8 runs/sst2_ft8_s1 runs/sst2_ft8_s2 \\
        --eval ../shared/data/sst2/sentences_eval.tsv --save-preset runs/sst2_soup
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_ctxmem.data.readers import read_text_classification  # noqa: E402
from keras_ctxmem.zoo import load_preset  # noqa: E402


def average_weights(models):
    """The element-wise mean of the models' weights (same architecture)."""
    shapes = [[w.shape for w in m.get_weights()] for m in models]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("the presets do not share one architecture")
    weights = zip(*(m.get_weights() for m in models), strict=True)
    return [np.mean(ws, axis=0) for ws in weights]


def probabilities(model, texts):
    logits = model.predict(texts, batch_size=256, verbose=0)
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def accuracy(probs, labels):
    return float((probs.argmax(-1) == labels).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", required=True)
    parser.add_argument("--eval", required=True, help="a labelled TSV/CSV file")
    parser.add_argument("--save-preset", help="write the soup here")
    args = parser.parse_args()

    models = [load_preset(path) for path in args.presets]
    vocabularies = {tuple(m.preprocessor.vocabulary) for m in models}
    if len(vocabularies) != 1:
        raise ValueError("the presets do not share one vocabulary")
    texts, labels = read_text_classification(
        args.eval, label_names=models[0].label_names
    ).to_arrays()
    probs = [probabilities(model, texts) for model in models]
    scores = {
        path: accuracy(p, labels) for path, p in zip(args.presets, probs, strict=True)
    }
    scores["ensemble"] = accuracy(np.mean(probs, axis=0), labels)
    soup = models[0]
    soup.set_weights(average_weights(models))
    scores["soup"] = accuracy(probabilities(soup, texts), labels)
    print(json.dumps({"split": os.path.basename(args.eval), **scores}, indent=2))
    if args.save_preset:
        soup.save_to_preset(args.save_preset)
        print(f"soup written to {args.save_preset}")


if __name__ == "__main__":
    main()
