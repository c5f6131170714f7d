"""Readers for real datasets on disk: each returns an unbatched `tf.data.Dataset`.

One module per format (`text_classification`, `conll`, `babi`, `image_text`,
`imdb`; `files` holds what they share); every public name is importable from
`keras_ctxmem.data.readers`.

- `read_text_classification`: TSV/CSV text classification files (SST-2, AG News).
  Elements: `(text: tf.string, label: int32)`. `stream_text_classification`
  reads a file larger than memory as the dataset is iterated. `read_ag_news_csv`
  reads the official AG News CSV layout (class index 1-4, title, description), and
  `read_labelled_texts` either layout for a model's label names.
- `read_conll`: CoNLL-2003 style token tagging files, IOB1 or BIO tags, converted
  to BIO. Elements: `(words: tf.string (n,), tags: int32 (n,))`.
- `read_babi`: bAbI v1.2 question answering (Weston et al. 2015) as memories,
  question and answer; `BabiData.to_arrays` gives the `{"story", "question"}`
  arrays a memory network reads, `BabiData.to_sequences` one token sequence
  (story then question) for a sequence classifier.
- `read_image_text_pairs`: a JSON or CSV listing of image files, texts and labels.
  Elements: `({"text": tf.string, "image": float32 (h, w, 3)}, label: int32)`.
- `load_imdb`: the IMDB reviews from an `aclImdb/` folder, or from
  `keras.datasets.imdb` (a download) when no folder is given.

A malformed file raises `DataFormatError`, whose message names the file and the
1-based line (or entry) at fault; so does a byte that is not valid UTF-8 (or the
`encoding=` given). A UTF-8 byte-order mark is dropped. A field may hold up to
`MAX_FIELD_BYTES` characters (a long review is legitimate).

Example:
```python
import os
import tempfile

from keras_ctxmem.data.readers import read_text_classification

path = os.path.join(tempfile.mkdtemp(), "train.tsv")
with open(path, "w") as f:
    f.write("sentence\\tlabel\\na fine film\\t1\\na dull film\\t0\\n")
data = read_text_classification(path)
print(data.num_examples, data.label_names)  # 2 ['0', '1']
batches = data.dataset.shuffle(1000).batch(32)
```
"""

from keras_ctxmem.data.readers.babi import (
    BabiData,
    babi_vocabulary,
    read_babi,
    tokenize_babi,
)
from keras_ctxmem.data.readers.conll import (
    ConllData,
    detect_scheme,
    iob1_to_bio,
    read_conll,
)
from keras_ctxmem.data.readers.files import MAX_FIELD_BYTES, DataFormatError
from keras_ctxmem.data.readers.image_text import ImageTextData, read_image_text_pairs
from keras_ctxmem.data.readers.imdb import load_imdb
from keras_ctxmem.data.readers.text_classification import (
    AG_NEWS_LABEL_MAP,
    AG_NEWS_LABEL_NAMES,
    HEADER_WORDS,
    LABEL_COLUMN_NAMES,
    TEXT_COLUMN_NAMES,
    TextClassificationData,
    looks_like_ag_news_csv,
    parse_label_map,
    read_ag_news_csv,
    read_labelled_texts,
    read_text_classification,
    stream_text_classification,
)
