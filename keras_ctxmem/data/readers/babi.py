"""bAbI v1.2 question answering (Weston et al. 2015): memories, question, answer."""

import dataclasses
import glob
import os
import re

import numpy as np
import tensorflow as tf

from keras_ctxmem.data.readers.files import DataFormatError, open_text


def tokenize_babi(text):
    """Lower-cases and splits punctuation off words: `"Where is Mary?"` gives
    `["where", "is", "mary", "?"]`."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


@dataclasses.dataclass
class BabiData:
    """bAbI questions, one example each, with the story told before it.

    `stories[i]` is the list of statements (each a list of words) before
    question `i`, oldest first, at most `max_memories` of the newest;
    `questions[i]` its words; `answers[i]` the answer as written, lower-cased
    (`"n,w"` and `"apple,milk"` answers stay one word); `supporting[i]` the line
    ids of the supporting statements as written in the file; `task_ids[i]` the
    task number (0 when unknown).
    """

    stories: list
    questions: list
    answers: list
    supporting: list
    task_ids: list

    def __len__(self):
        return len(self.questions)

    def to_arrays(
        self,
        vocabulary=None,
        max_memories=None,
        max_sentence_length=None,
        unknown_words="error",
    ):
        """Word ids for a memory network.

        Args:
            vocabulary: a list of words, index 0 the padding `""`; by default
                `babi_vocabulary(self)`. Pass one built from the training
                splits (`babi_vocabulary(train, valid)`) so the ids agree.
            max_memories: memories per story; longer stories keep the newest.
                By default the longest story.
            max_sentence_length: words per statement and per question; longer
                ones keep their first words. By default the longest.
            unknown_words: `"error"` raises on a word missing from
                `vocabulary`; `"drop"` leaves such words out of statements and
                questions and gives an unknown answer the id -1, which no model
                predicts (for test files read with a trained model's words).

        Returns:
            A dict: `story` int32 `(n, memories, words)`, statement `i` of a
            story in row `i` (oldest first), padding statements and words all 0;
            `question` int32 `(n, words)`; `answer` int32 `(n,)`, the answer's
            index in `vocabulary`; and `vocabulary` itself.
        """
        vocabulary, ids = self._word_ids(vocabulary, unknown_words)
        if max_memories is None:
            max_memories = max(1, max(len(story) for story in self.stories))
        if max_sentence_length is None:
            max_sentence_length = max(
                len(sentence)
                for sentence in [*self.questions, *(s for t in self.stories for s in t)]
            )
        n = len(self)
        story = np.zeros((n, max_memories, max_sentence_length), "int32")
        question = np.zeros((n, max_sentence_length), "int32")
        for row, (memories, words) in enumerate(
            zip(self.stories, self.questions, strict=True)
        ):
            for slot, sentence in enumerate(memories[-max_memories:]):
                sentence_ids = ids(sentence)[:max_sentence_length]
                story[row, slot, : len(sentence_ids)] = sentence_ids
            question_ids = ids(words)[:max_sentence_length]
            question[row, : len(question_ids)] = question_ids
        answer = np.array([(ids([word]) or [-1])[0] for word in self.answers], "int32")
        return {
            "story": story,
            "question": question,
            "answer": answer,
            "vocabulary": vocabulary,
        }

    def to_sequences(self, vocabulary=None, max_length=None):
        """Word ids for a sequence reader: story then question, one sequence.

        The statements of the story (oldest first) and then the question are
        joined into one token sequence (each statement ends with its `.`, the
        question with its `?`), so that an LSTM or Transformer classifier can
        answer: the label is the answer's word id, a class out of
        `len(vocabulary)`.

        Args:
            vocabulary: as for `to_arrays`.
            max_length: tokens per sequence; longer sequences keep their last
                tokens (the question and the newest statements). By default
                the longest.

        Returns:
            A dict: `token_ids` int32 `(n, length)`, right-padded with 0;
            `answer` int32 `(n,)`; and `vocabulary`.
        """
        vocabulary, ids = self._word_ids(vocabulary)
        sequences = [
            ids([word for sentence in story for word in sentence] + question)
            for story, question in zip(self.stories, self.questions, strict=True)
        ]
        if max_length is None:
            max_length = max(len(sequence) for sequence in sequences)
        token_ids = np.zeros((len(self), max_length), "int32")
        for row, sequence in enumerate(sequences):
            sequence = sequence[-max_length:]
            token_ids[row, : len(sequence)] = sequence
        answer = np.array([ids([word])[0] for word in self.answers], "int32")
        return {"token_ids": token_ids, "answer": answer, "vocabulary": vocabulary}

    def _word_ids(self, vocabulary, unknown_words="error"):
        """`(vocabulary, ids)`: the vocabulary (default: this data's) and a
        function from words to their ids, which names a missing word (or,
        with `unknown_words="drop"`, leaves it out)."""
        if unknown_words not in ("error", "drop"):
            raise ValueError(
                "`unknown_words` must be 'error' or 'drop'. "
                f"Received: {unknown_words!r}"
            )
        vocabulary = list(vocabulary) if vocabulary else babi_vocabulary(self)
        index = {word: i for i, word in enumerate(vocabulary)}

        def ids(words):
            missing = [word for word in words if word not in index]
            if missing and unknown_words == "drop":
                return [index[word] for word in words if word in index]
            if missing:
                raise ValueError(
                    f"{missing[0]!r} is not in the vocabulary; build it from "
                    "every split: babi_vocabulary(train, valid)"
                )
            return [index[word] for word in words]

        return vocabulary, ids

    def to_dataset(self, vocabulary=None, max_memories=None, max_sentence_length=None):
        """`({"story", "question"}, answer)` elements from `to_arrays`."""
        arrays = self.to_arrays(vocabulary, max_memories, max_sentence_length)
        return tf.data.Dataset.from_tensor_slices(
            (
                {"story": arrays["story"], "question": arrays["question"]},
                arrays["answer"],
            )
        )


def babi_vocabulary(*datas):
    """`""` (padding) then every word and answer of these `BabiData`, sorted."""
    words = set()
    for data in datas:
        words.update(data.answers)
        for words_ in data.questions:
            words.update(words_)
        for story in data.stories:
            for sentence in story:
                words.update(sentence)
    return [""] + sorted(words)


def _babi_files(path_or_paths, split, task_ids):
    """`(file, task id)` pairs for a file, a list of files or a directory."""
    if isinstance(path_or_paths, (str, os.PathLike)) and os.path.isdir(path_or_paths):
        found = {}
        for name in glob.glob(os.path.join(path_or_paths, f"qa*_*{split}.txt")):
            match = re.match(r"qa(\d+)_", os.path.basename(name))
            if match:
                found[int(match.group(1))] = name
        wanted = sorted(found) if task_ids is None else list(task_ids)
        missing = [task for task in wanted if task not in found]
        if missing or not wanted:
            raise FileNotFoundError(
                f"no qa{missing[0] if missing else 'N'}_*{split}.txt in {path_or_paths}"
            )
        return [(found[task], task) for task in wanted]
    paths = (
        [path_or_paths]
        if isinstance(path_or_paths, (str, os.PathLike))
        else list(path_or_paths)
    )
    if task_ids is not None:
        if len(task_ids) != len(paths):
            raise ValueError(
                f"{len(task_ids)} task ids for {len(paths)} files: give one each"
            )
        return list(zip(paths, task_ids, strict=True))
    pairs = []
    for path in paths:
        match = re.match(r"qa(\d+)_", os.path.basename(path))
        pairs.append((path, int(match.group(1)) if match else 0))
    return pairs


def _read_babi_file(path, task_id, max_memories, data):
    statements = []  # the current story's statements so far
    num_before = len(data.questions)
    with open_text(path) as f:
        for line_number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            number, _, rest = line.partition(" ")
            if not number.isdigit():
                raise DataFormatError(path, line_number, "no line id at the start")
            if int(number) == 1:
                statements = []
            if "\t" not in rest:
                statements.append(tokenize_babi(rest))
                continue
            fields = rest.split("\t")
            if len(fields) != 3:
                raise DataFormatError(
                    path,
                    line_number,
                    "a question line needs question<TAB>answer<TAB>supporting ids",
                )
            question, answer, support = fields
            if not answer.strip() or not all(s.isdigit() for s in support.split()):
                raise DataFormatError(
                    path, line_number, f"bad answer or supporting ids: {rest!r}"
                )
            first = 0 if max_memories is None else len(statements) - max_memories
            data.stories.append(statements[max(0, first) :])
            data.questions.append(tokenize_babi(question))
            data.answers.append(answer.strip().lower())
            data.supporting.append([int(s) for s in support.split()])
            data.task_ids.append(task_id)
    if len(data.questions) == num_before:
        raise DataFormatError(path, 1, "the file holds no questions")


def read_babi(path_or_paths, max_memories=50, task_ids=None, split="train"):
    """Reads bAbI v1.2 tasks: one example per question.

    A line numbered 1 starts a story; a question line is
    `id question<TAB>answer<TAB>supporting ids`; the other lines are statements.
    An example's memories are the statements of its story before the question
    (questions are not memories), the newest `max_memories` of them.

    Args:
        path_or_paths: a file, a list of files, or a directory holding
            `qa{N}_{split}.txt` or `qa{N}_<name>_{split}.txt` files.
        max_memories: statements kept per example, the newest ones; `None`
            keeps them all.
        task_ids: for a directory, the tasks to read (default: every one
            found); for files, each file's task id (default: the `N` of a
            `qaN_` file name, else 0).
        split: for a directory, the file name's suffix: `"train"`, `"valid"`
            or `"test"`.

    Returns:
        `BabiData`, tasks in the order read, questions in file order.
    """
    data = BabiData([], [], [], [], [])
    for path, task_id in _babi_files(path_or_paths, split, task_ids):
        _read_babi_file(path, task_id, max_memories, data)
    return data
