"""Multi-query associative recall (MQAR; Arora et al. 2023, Zoology) for an LSTM,
a Transformer and a MemoryTransformer at about the same parameter count.

`multi_query_associative_recall` puts `--num-pairs` key-value pairs at the start
of a sequence of `--length` tokens and asks every key once at a random later
position; the label there is the key's value (chance: 1 / `--num-values`). The
three models are token classifiers of width `--hidden-dim`:

- LSTM: embedding, one `keras.layers.LSTM` of `--lstm-units` (the zoo's LSTMs
  are sequence classifiers, so the token model is built here), logits;
- Transformer: `TransformerTokenClassifier`, `--num-layers` blocks of
  `--num-heads` heads over the whole sequence (learned positions);
- MemoryTransformer: the same blocks with `--position-encoding` positions
  (rotary by default), reading segments of `--segment-length` tokens with
  `--num-memory-tokens` memory tokens;
- keras_hub_encoder: a reference outside the zoo, plain keras-hub layers
  (`TokenAndPositionEmbedding`, `--num-layers` pre-norm `TransformerEncoder`s,
  a final layer norm, logits), to tell a zoo bug from the task's difficulty.

Each model trains for `--steps` steps of `--batch-size` fresh sequences with
Adam at `--learning-rate` (warm-up then cosine decay), and is scored by the
accuracy at the asked positions of `--valid` held-out sequences.

    python benchmarks/mqar.py --length 256 --num-pairs 16 --steps 1000
    python benchmarks/mqar.py --length 512 --num-pairs 64 --steps 1000
"""

import argparse
import time

import keras
import keras_hub

from keras_ctxmem.data.synthetic import (
    multi_query_associative_recall,
    vocabulary_size_for,
)
from keras_ctxmem.zoo import (
    TokenAccuracy,
    TransformerTokenClassifier,
    create_model,
)

MODELS = ("lstm", "transformer", "memory_transformer", "keras_hub_encoder")
DEFAULT_MODELS = MODELS[:3]


def build(name, args, vocabulary_size):
    width = {
        "num_layers": args.num_layers,
        "num_heads": args.num_heads,
        "hidden_dim": args.hidden_dim,
        "intermediate_dim": 4 * args.hidden_dim,
    }
    if name == "transformer":
        return create_model(
            "transformer_tiny",
            model_class=TransformerTokenClassifier,
            vocabulary_size=vocabulary_size,
            num_classes=args.num_values,
            max_sequence_length=args.length,
            dropout=0.0,
            **width,
        )
    if name == "memory_transformer":
        return create_model(
            "memory_transformer_tiny",
            vocabulary_size=vocabulary_size,
            num_classes=args.num_values,
            segment_length=args.segment_length,
            num_memory_tokens=args.num_memory_tokens,
            position_encoding=args.position_encoding,
            **width,
        )
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    if name == "keras_hub_encoder":
        x = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size, args.length, args.hidden_dim
        )(token_ids)
        for _ in range(args.num_layers):
            x = keras_hub.layers.TransformerEncoder(
                4 * args.hidden_dim, args.num_heads, normalize_first=True
            )(x)
        x = keras.layers.LayerNormalization()(x)
        logits = keras.layers.Dense(args.num_values)(x)
        return keras.Model(token_ids, logits, name="keras_hub_encoder")
    x = keras.layers.Embedding(vocabulary_size, args.hidden_dim)(token_ids)
    x = keras.layers.LSTM(args.lstm_units, return_sequences=True)(x)
    logits = keras.layers.Dense(args.num_values)(x)
    return keras.Model(token_ids, logits, name="lstm_tagger")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=DEFAULT_MODELS)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--num-pairs", type=int, default=16)
    parser.add_argument("--num-keys", type=int, default=64)
    parser.add_argument("--num-values", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--lstm-units", type=int, default=128)
    parser.add_argument("--segment-length", type=int, default=64)
    parser.add_argument("--num-memory-tokens", type=int, default=16)
    parser.add_argument("--position-encoding", default="rotary")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--valid", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = {
        "sequence_length": args.length,
        "num_pairs": args.num_pairs,
        "num_keys": args.num_keys,
        "num_values": args.num_values,
    }
    x, y = multi_query_associative_recall(
        args.steps * args.batch_size, seed=args.seed, **data
    )
    x_val, y_val = multi_query_associative_recall(
        args.valid, seed=args.seed + 1, **data
    )
    vocabulary_size = vocabulary_size_for(args.num_keys, args.num_values)
    print(
        f"MQAR: {args.num_pairs} pairs in {args.length} tokens, {args.num_keys} "
        f"keys, {args.num_values} values (chance {1 / args.num_values:.3f}); "
        f"{args.steps} steps of {args.batch_size}, learning rate "
        f"{args.learning_rate}",
        flush=True,
    )
    for name in args.models:
        keras.utils.set_random_seed(args.seed)
        model = build(name, args, vocabulary_size)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0,
            decay_steps=args.steps - args.steps // 10,
            warmup_target=args.learning_rate,
            warmup_steps=args.steps // 10,
        )
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=-1
            ),
            metrics=[TokenAccuracy(name="accuracy")],
            jit_compile=True,
        )
        # The first step compiles; the time is that of the other steps.
        first = slice(0, args.batch_size)
        model.fit(x[first], y[first], batch_size=args.batch_size, verbose=0)
        rest = slice(args.batch_size, None)
        start = time.time()
        model.fit(x[rest], y[rest], batch_size=args.batch_size, verbose=0)
        seconds = time.time() - start
        _, accuracy = model.evaluate(x_val, y_val, verbose=0)
        print(
            f"{name}: accuracy {accuracy:.4f} ({model.count_params():,} parameters, "
            f"{seconds:.0f} s for {args.steps - 1} steps after compiling)",
            flush=True,
        )


if __name__ == "__main__":
    main()
