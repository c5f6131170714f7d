"""Masked-LM pre-training of the SST-2 BiLSTM encoder on unlabeled text.

Pre-trains an `LSTMMaskedLM` (the `LSTMClassifier`'s embedding + BiLSTM, BERT's
15% masking, output tied to the embedding) and saves it as a preset that
`LSTMClassifier.from_preset(DIR, num_classes=2, pooling="max")` starts from.

Corpus (no labels; `sentences_eval.tsv` is never read): the texts of `--train`
(SST-2 `train.tsv`) and the `--pretrain-data` files (WikiText-2 raw `valid.txt`,
`test.txt`: heading lines dropped, `<unk>` removed, `@-@` joins undone,
paragraphs cut into sentences). The WordPiece vocabulary is learnt from the
SST-2 training texts alone, exactly as `text_classification.py` learns it, so
the fine-tuned model tokenizes as the from-scratch one does.

Fine-tuning is `text_classification.py --pretrained DIR` (its other options as
for the model trained from scratch). The figures in benchmarks/RESULTS.md and
`zoo/sst2_sentiment.md`:
```
KERAS_BACKEND=jax python benchmarks/sst2_pretrain.py \\
    --train ../shared/data/sst2/train.tsv \\
    --pretrain-data ../shared/data/wikitext-2/valid.txt \\
        ../shared/data/wikitext-2/test.txt \\
    --save-preset keras_ctxmem/presets/sst2_lstm_masked_lm
KERAS_BACKEND=jax python benchmarks/text_classification.py --task sst2 \\
    --train ../shared/data/sst2/train.tsv \\
    --eval ../shared/data/sst2/sentences_eval.tsv \\
    --pretrained keras_ctxmem/presets/sst2_lstm_masked_lm \\
    --save-preset keras_ctxmem/presets/sst2_sentiment
```
"""

import argparse
import json
import os
import re
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from text_classification import BucketedBatches, token_ids  # noqa: E402

from keras_ctxmem.data.readers import read_text_classification  # noqa: E402
from keras_ctxmem.preprocessing import TextPreprocessor  # noqa: E402
from keras_ctxmem.training import default_optimizer  # noqa: E402
from keras_ctxmem.zoo import LSTMMaskedLM  # noqa: E402
from keras_ctxmem.zoo.masked_lm import mask_generator  # noqa: E402


def wikitext_sentences(path, min_words=3):
    """The sentences of a raw WikiText file, headings and `<unk>` left out."""
    sentences = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("="):
                continue
            line = line.replace("<unk>", " ")
            line = re.sub(r" @(.)@ ", r"\1", line)
            for sentence in re.split(r"(?<= [.!?]) ", line):
                if len(sentence.split()) >= min_words:
                    sentences.append(" ".join(sentence.split()))
    return sentences


class MaskedBatches(BucketedBatches):
    """Length-bucketed batches, masked afresh each time a batch is read."""

    def __init__(self, ids, lengths, batch_size, bucket, masker, seed):
        self.masker = masker
        super().__init__(ids, lengths, np.zeros(len(ids)), batch_size, bucket, seed)

    def __getitem__(self, index):
        token_ids, _ = super().__getitem__(index)
        masked = {k: np.asarray(v) for k, v in self.masker(token_ids).items()}
        inputs = {
            "token_ids": masked["token_ids"],
            "mask_positions": masked["mask_positions"],
        }
        return inputs, masked["mask_ids"], masked["mask_weights"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, help="SST-2 train.tsv")
    parser.add_argument("--pretrain-data", nargs="*", default=[], help="WikiText")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="lstm_small")
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--embedding-dropout", type=float, default=0.1)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bucket", type=int, default=8, help="padding multiple")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--schedule-epochs",
        type=int,
        help="epochs the learning-rate decay spans (default: --epochs); more than "
        "--epochs stops the run part way down the schedule",
    )
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--save-preset", required=True, help="the encoder preset")
    parser.add_argument("--results", help="write the per-epoch log as JSON here")
    args = parser.parse_args(argv)
    command = "python " + " ".join(map(shlex.quote, sys.argv))
    keras.utils.set_random_seed(args.seed)

    sst2_texts, _ = read_text_classification(
        args.train, label_names=["0", "1"]
    ).to_arrays()
    started = time.time()
    preprocessor = TextPreprocessor.from_corpus(
        list(sst2_texts),
        vocabulary_size=args.vocabulary_size,
        sequence_length=args.sequence_length,
    )
    corpus = list(sst2_texts)
    for path in args.pretrain_data:
        corpus += wikitext_sentences(path)
    ids, lengths = token_ids(preprocessor, corpus)
    print(
        f"corpus: {len(sst2_texts):,} SST-2 training texts + "
        f"{len(corpus) - len(sst2_texts):,} WikiText sentences, "
        f"{int(lengths.sum()):,} WordPieces; vocabulary "
        f"{preprocessor.vocabulary_size:,} ({time.time() - started:.0f} s)",
        flush=True,
    )
    batches = MaskedBatches(
        ids,
        lengths,
        args.batch_size,
        args.bucket,
        mask_generator(preprocessor),
        args.seed,
    )
    model = LSTMMaskedLM.from_preset(
        args.preset,
        preprocessor=preprocessor,
        embedding_dim=args.embedding_dim,
        hidden_dim=args.hidden_dim,
        num_layers=args.num_layers,
        dropout=args.dropout,
        embedding_dropout=args.embedding_dropout,
    )
    model.compile(
        optimizer=default_optimizer(
            args.learning_rate,
            total_steps=(args.schedule_epochs or args.epochs) * len(batches),
            weight_decay=args.weight_decay,
        ),
        jit_compile=keras.backend.backend() != "tensorflow",
    )
    print(f"LSTMMaskedLM: {model.count_params():,} parameters", flush=True)
    history = []
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        fit = model.fit(batches, epochs=1, verbose=0)
        history.append(
            {
                "epoch": epoch,
                "loss": round(float(fit.history["loss"][-1]), 4),
                "masked_accuracy": round(float(fit.history["accuracy"][-1]), 4),
                "seconds": round(time.time() - started, 1),
            }
        )
        print(json.dumps(history[-1]), flush=True)
        # Saved every epoch: a stopped run still leaves an encoder.
        clean = LSTMMaskedLM.from_config(
            {**model.get_config(), "preprocessor": preprocessor}
        )
        clean.set_weights(model.get_weights())
        clean.save_to_preset(args.save_preset)
    metadata_path = os.path.join(args.save_preset, "metadata.json")
    with open(metadata_path) as f:
        metadata = json.load(f)
    metadata["description"] = (
        "LSTMMaskedLM: BiLSTM encoder pre-trained as a masked LM on the SST-2 "
        "training texts and WikiText-2 (valid + test); the starting point of "
        f"sst2_sentiment. Masked-token accuracy {history[-1]['masked_accuracy']:.3f}"
        " on its training corpus."
    )
    with open(metadata_path, "w") as f:
        json.dump(metadata, f, indent=2)
    results = {"command": command, "history": history, "args": vars(args)}
    if args.results:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=2)
    print(f"encoder preset written to {args.save_preset}", flush=True)
    return results


if __name__ == "__main__":
    main()
