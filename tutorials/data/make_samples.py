"""Writes the small offline data sets the tutorials use (seeded, no download).

- `sentiment_sample.tsv`: short templated film reviews, `text<TAB>label` with
  labels `neg`/`pos`. A review is neutral sentences around one or two opinions;
  in a "but" sentence the clause after "but" decides the label.
- `babi_qa1_sample/qa1_sample_{train,valid}.txt`: bAbI QA1-style stories
  (single supporting fact: "Where is Mary?") in the bAbI v1.2 file format,
  200 stories of 10 statements and 5 questions for training, 40 for validation.

Both are generated here, not copied from any data set. Run from anywhere:
`python tutorials/data/make_samples.py`.
"""

import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

POSITIVE = """wonderful brilliant charming moving superb
delightful gripping witty beautiful excellent""".split()
NEGATIVE = """dull boring awful clumsy tedious
bland terrible predictable lifeless weak""".split()
ASPECTS = """acting plot script soundtrack ending
direction cast dialogue pacing photography""".split()
OPINIONS = [
    "the {a} was {w}",
    "i thought the {a} was {w}",
    "honestly the {a} is {w}",
    "what a {w} {a}",
    "the {a} felt {w} from start to finish",
]
NEUTRAL = [
    "the film follows a {p} in {c}",
    "it runs for about {n} minutes",
    "i watched it on a {d} evening",
    "the story is set in {c}",
    "it is a {g} about a {p}",
    "the director made it in {y}",
    "my friend recommended it last {d}",
    "it was shown at a festival in {c}",
]
FILL = {
    "p": ["detective", "teacher", "pilot", "young singer", "farmer", "doctor"],
    "c": ["london", "paris", "a small town", "tokyo", "the mountains", "new york"],
    "n": ["ninety", "two hours", "a hundred", "eighty"],
    "d": ["monday", "rainy", "quiet", "friday", "sunday"],
    "g": ["drama", "comedy", "thriller", "western", "romance"],
    "y": ["1998", "2005", "2012", "2019", "the seventies"],
}


def _neutral(rng):
    template = rng.choice(NEUTRAL)
    return template.format(**{key: rng.choice(values) for key, values in FILL.items()})


def _opinion(rng, positive):
    word = rng.choice(POSITIVE if positive else NEGATIVE)
    return rng.choice(OPINIONS).format(a=rng.choice(ASPECTS), w=word)


def review(rng):
    """`(text, label)`: neutral sentences around the opinion(s) that decide it."""
    positive = rng.random() < 0.5
    if rng.random() < 0.25:  # "x was dull but y was superb": the second one counts
        first = _opinion(rng, not positive)
        opinion = f"{first} but {_opinion(rng, positive)}"
    else:
        opinion = _opinion(rng, positive)
    sentences = [_neutral(rng) for _ in range(rng.randint(1, 3))]
    sentences.insert(rng.randint(0, len(sentences)), opinion)
    return " . ".join(sentences) + " .", "pos" if positive else "neg"


def write_sentiment(path, num_reviews=1000, seed=0):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        for _ in range(num_reviews):
            text, label = review(rng)
            f.write(f"{text}\t{label}\n")


PEOPLE = ["Mary", "John", "Daniel", "Sandra"]
PLACES = ["bathroom", "hallway", "garden", "office", "bedroom", "kitchen"]
MOVES = ["moved to", "went to", "journeyed to", "travelled to", "went back to"]


def babi_story(rng, num_statements=10, question_every=2):
    """Lines of one QA1-style story: statements, and a question after every
    `question_every` statements about someone already placed."""
    lines, where, last_line = [], {}, {}
    for i in range(num_statements):
        person = rng.choice(PEOPLE)
        place = rng.choice([p for p in PLACES if p != where.get(person)])
        lines.append(f"{person} {rng.choice(MOVES)} the {place}.")
        where[person], last_line[person] = place, len(lines)
        if (i + 1) % question_every == 0:
            asked = rng.choice(sorted(where))
            lines.append(f"Where is {asked}? \t{where[asked]}\t{last_line[asked]}")
    return [f"{number} {line}" for number, line in enumerate(lines, start=1)]


def write_babi(path, num_stories, seed):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(num_stories):
            f.write("\n".join(babi_story(rng)) + "\n")


def main():
    write_sentiment(os.path.join(HERE, "sentiment_sample.tsv"))
    babi_dir = os.path.join(HERE, "babi_qa1_sample")
    os.makedirs(babi_dir, exist_ok=True)
    write_babi(os.path.join(babi_dir, "qa1_sample_train.txt"), 200, seed=1)
    write_babi(os.path.join(babi_dir, "qa1_sample_valid.txt"), 40, seed=2)


if __name__ == "__main__":
    main()
