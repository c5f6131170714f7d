"""`LSTMTagger`: a word-level BiLSTM-CRF tagger with character features (NER).

Each word is read as a lowercased word embedding, a case-class embedding and a
character CNN over its characters (case kept); a BiLSTM reads the sentence and
a CRF scores tag paths (Lample et al. 2016; Ma and Hovy 2016). Inputs come
from a `WordTaggingPreprocessor`; word id 0 is padding, which never changes a
result.

Example:
```python
from keras_ctxmem.preprocessing.words import WordTaggingPreprocessor
from keras_ctxmem.zoo import LSTMTagger
sentences = [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
pre = WordTaggingPreprocessor.from_sentences(sentences)
model = LSTMTagger.from_preset(
    "lstm_tagger_tiny", preprocessor=pre, label_names=["O", "B-PER", "I-PER"]
)
tags = model.predict_tags(pre(sentences))  # (2, 4) tag ids, 0 on padding
```
"""

import keras

from keras_ctxmem.layers import CRF, CharCNN, CRFLoss, TokenDropout
from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.preprocessing.words import CASES
from keras_ctxmem.zoo.recurrent import lstm_stack
from keras_ctxmem.zoo.transformer import TokenAccuracy
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class LSTMTagger(ZooModel):
    """Word + case + character-CNN features, a BiLSTM, then a CRF (or softmax).

    Outputs per-word tag scores `(batch, words, num_tags)` (the CRF's emissions);
    `predict_tags` decodes them (Viterbi with the CRF). Labels of -1 (padding)
    are left out of the loss.

    Args:
        vocabulary_size: word ids, padding 0 and unknown 1 included.
        char_vocabulary_size: character ids, padding 0 and unknown 1 included.
        num_tags: number of tags.
        embedding_dim: width of the word embedding.
        case_embedding_dim: width of the case-class embedding.
        char_embedding_dim: width of the character embedding.
        char_filters: character-CNN features per word.
        hidden_dim: LSTM units per direction.
        num_layers: stacked BiLSTM layers.
        dropout: dropout on the word features and the BiLSTM output.
        word_dropout: in training, the share of words read as unknown.
        use_crf: decode with a CRF (else per-word softmax).
        use_cudnn: see `keras_ctxmem.zoo.recurrent`.
    """

    preset_family = "lstm_tagger"

    def __init__(
        self,
        vocabulary_size,
        char_vocabulary_size,
        num_tags,
        embedding_dim=100,
        case_embedding_dim=8,
        char_embedding_dim=25,
        char_filters=50,
        hidden_dim=100,
        num_layers=1,
        dropout=0.5,
        word_dropout=0.05,
        use_crf=True,
        use_cudnn=False,
        dtype=None,
        **kwargs,
    ):
        check_sizes(
            vocabulary_size=vocabulary_size,
            char_vocabulary_size=char_vocabulary_size,
            num_tags=num_tags,
            embedding_dim=embedding_dim,
            case_embedding_dim=case_embedding_dim,
            char_embedding_dim=char_embedding_dim,
            char_filters=char_filters,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
        )
        check_rate("dropout", dropout)
        check_rate("word_dropout", word_dropout)
        # === Layers ===
        self.word_dropout_layer = TokenDropout(
            word_dropout, dtype=dtype, name="word_dropout"
        )
        self.word_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, dtype=dtype, name="word_embedding"
        )
        self.case_embedding = keras.layers.Embedding(
            len(CASES), case_embedding_dim, dtype=dtype, name="case_embedding"
        )
        self.char_cnn = CharCNN(
            char_vocabulary_size,
            char_embedding_dim,
            char_filters,
            dtype=dtype,
            name="char_cnn",
        )
        self.features_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="features_dropout"
        )
        self.lstm_layers = lstm_stack(
            hidden_dim, num_layers, True, 0.0, use_cudnn, dtype, "lstm"
        )
        self.head = LogitsHead(num_tags, dropout, dtype=dtype, name="head")
        self.crf = CRF(num_tags, dtype=dtype, name="crf") if use_crf else None

        # === Functional Model ===
        word_ids = keras.Input(shape=(None,), dtype="int32", name="word_ids")
        case_ids = keras.Input(shape=(None,), dtype="int32", name="case_ids")
        char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
        padding_mask = keras.ops.not_equal(word_ids, 0)
        x = keras.layers.Concatenate(dtype=dtype, name="word_features")(
            [
                self.word_embedding(self.word_dropout_layer(word_ids)),
                self.case_embedding(case_ids),
                self.char_cnn(char_ids),
            ]
        )
        x = self.features_dropout(x)
        for lstm in self.lstm_layers:
            x = lstm(x, mask=padding_mask)
        emissions = self.head(x)
        if self.crf is not None:
            emissions = self.crf(emissions)
        super().__init__(
            inputs={"word_ids": word_ids, "case_ids": case_ids, "char_ids": char_ids},
            outputs=emissions,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.char_vocabulary_size = char_vocabulary_size
        self.num_tags = num_tags
        self.embedding_dim = embedding_dim
        self.case_embedding_dim = case_embedding_dim
        self.char_embedding_dim = char_embedding_dim
        self.char_filters = char_filters
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.use_crf = use_crf
        self.use_cudnn = use_cudnn

    @classmethod
    def from_preset_config(cls, config):
        """Takes the vocabulary sizes from the preprocessor and `num_tags` from
        `label_names`, when given."""
        preprocessor = config.get("preprocessor")
        if preprocessor is not None:
            config["char_vocabulary_size"] = preprocessor.char_vocabulary_size
        if config.get("label_names") is not None:
            config["num_tags"] = len(config["label_names"])
        return cls(**config)

    def token_id_limits(self):
        return {
            "word_ids": (self.vocabulary_size, None),
            "case_ids": (len(CASES), None),
            "char_ids": (self.char_vocabulary_size, None),
        }

    def default_loss(self):
        if self.crf is not None:
            return CRFLoss(self.crf)
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-1
        )

    def default_metrics(self):
        return [TokenAccuracy(name="accuracy")]

    def label_limits(self):
        """Tag ids, -1 at padding, also under the CRF loss."""
        if isinstance(getattr(self, "loss", None), CRFLoss):
            return self.num_tags, -1
        return super().label_limits()

    def decode(self, emissions, padding_mask):
        """Tag ids `(batch, words)` from the model's output: Viterbi with the
        CRF, else the best tag per word; 0 at padding."""
        if self.crf is not None:
            tags = self.crf.viterbi_decode(emissions, padding_mask)
        else:
            tags = keras.ops.argmax(emissions, axis=-1)
            tags = keras.ops.where(padding_mask, tags, 0)
        return keras.ops.convert_to_numpy(tags).astype("int32")

    def predict_tags(self, inputs):
        """Tag ids for a batch of `WordTaggingPreprocessor` outputs."""
        emissions = self.predict_on_batch(inputs)
        return self.decode(emissions, inputs["word_ids"] != 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "char_vocabulary_size": self.char_vocabulary_size,
                "num_tags": self.num_tags,
                "embedding_dim": self.embedding_dim,
                "case_embedding_dim": self.case_embedding_dim,
                "char_embedding_dim": self.char_embedding_dim,
                "char_filters": self.char_filters,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "word_dropout": self.word_dropout,
                "use_crf": self.use_crf,
                "use_cudnn": self.use_cudnn,
            }
        )
        return config
