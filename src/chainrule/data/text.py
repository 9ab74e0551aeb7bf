"""Character-level text data sets from Debian packages, for language models (issue 15).

    split = cr.data.fortunes()        # Debian `fortunes`: ~2.4 M characters of quotations and jokes
    split = cr.data.words()           # Debian `wamerican`: ~64 k lowercase English words, one a line
    x, y = split.train[:2]            # int64 windows (seq_len,); y is x shifted by one character
    split.info["vocab"]               # the characters, in id order
    split.info["baselines"]           # test-set bits per character of unigram and bigram models

fortunes is real prose with long-range structure (a quotation, then "-- Author" on its own line,
then the "%" line that ends every fortune), so a model with memory has something to learn over a
64-character window; words is makemore's task (spell a plausible word, end it with a newline). Both
are installed offline by their Debian packages (`.ci/run` installs them).

The split is by document (a fortune, a word), seeded, so no quotation is both trained on and tested
on; the documents of each part are shuffled (the word list is alphabetical, the fortune files are by
topic), so that the first `max_chars` characters are a fair sample. Each part is one stream of
characters cut into non-overlapping windows of `seq_len + 1` characters (x is the first seq_len, y
the last seq_len). The vocabulary is every character of the
corpus (both parts), sorted, so ids are stable.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata

import numpy as np

from .dataset import TensorDataset
from .datasets import DataSplit

FORTUNES_DIR = "/usr/share/games/fortunes"
WORDS_FILE = "/usr/share/dict/words"
MAX_TEXT_BYTES = 64 * 2**20  # a corpus file larger than this is refused (nothing loads without bound)


def _read(path, package):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing: it comes from Debian's '{package}' package "
                                f"(`sudo apt-get install {package}`)")
    size = os.path.getsize(path)
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"{path} has {size:,} bytes, more than the {MAX_TEXT_BYTES:,} a text corpus may have")
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def _ascii(text):
    """Printable ASCII and newlines: overstriking (x BACKSPACE x, the files' bold) removed, tabs as spaces,
    accents dropped (é -> e), anything else removed."""
    text = re.sub(r".\x08", "", text).replace("\t", "    ")
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if c == "\n" or " " <= c <= "~")


def _fortune_files(root):
    if not os.path.isdir(root):
        raise FileNotFoundError(f"fortunes: {root} is missing: the data set comes from Debian's 'fortunes' "
                                f"package (`sudo apt-get install fortunes`)")
    names = sorted(n for n in os.listdir(root) if "." not in n and os.path.isfile(os.path.join(root, n))
                   and not os.path.islink(os.path.join(root, n)))
    if not names:
        raise FileNotFoundError(f"fortunes: no fortune files in {root} (install Debian's 'fortunes' package)")
    return [os.path.join(root, n) for n in names]


def _split_docs(docs, test_fraction, seed, what):
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"{what}: test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(docs))
    k = max(1, int(round(test_fraction * len(docs))))
    return [docs[i] for i in order[k:]], [docs[i] for i in order[:k]]  # in shuffled order: a prefix is a sample


def encode(text, vocab):
    """The ids of `text`'s characters in `vocab` (a sorted string); a character not in it is a ValueError."""
    keys = np.frombuffer(vocab.encode("utf-32-le"), dtype=np.uint32)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    ids = np.minimum(np.searchsorted(keys, codes), max(len(keys) - 1, 0)).astype(np.int64)
    bad = keys[ids] != codes if len(keys) else np.ones(len(codes), dtype=bool)
    if bad.any():
        raise ValueError(f"encode: characters {sorted({text[i] for i in np.flatnonzero(bad)[:10]})!r} are not in "
                         f"the vocabulary")
    return ids


def decode(ids, vocab):
    return "".join(vocab[int(i)] for i in np.asarray(ids).reshape(-1))


def windows(ids, seq_len):
    """(x, y): non-overlapping windows of seq_len + 1 ids; y is x shifted left by one."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"windows: {len(ids)} characters make no window of {seq_len} + 1")
    x = ids[:n * seq_len].reshape(n, seq_len)
    y = ids[1:n * seq_len + 1].reshape(n, seq_len)
    return x.copy(), y.copy()


def ngram_bits(train_ids, test_ids, vocab_size):
    """Test-set bits per character of a unigram and a bigram model estimated on the training ids, each
    with add-one (Laplace) smoothing, so an unseen character or pair costs finite bits."""
    uni = np.bincount(train_ids, minlength=vocab_size) + 1.0
    uni_bits = float(-np.log2(uni[test_ids[1:]] / uni.sum()).mean())
    pairs = np.zeros((vocab_size, vocab_size))
    np.add.at(pairs, (train_ids[:-1], train_ids[1:]), 1.0)
    pairs += 1.0
    prob = pairs / pairs.sum(axis=1, keepdims=True)
    bi_bits = float(-np.log2(prob[test_ids[:-1], test_ids[1:]]).mean())
    return {"unigram": uni_bits, "bigram": bi_bits}


def text_split(name, train_docs, test_docs, seq_len, max_chars=None, info=None):
    """A DataSplit of character windows (task "language_model") from two lists of documents, each
    document ending in `sep` already. `max_chars` keeps the first so many characters of each part."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or not 1 <= seq_len <= 4096:
        raise ValueError(f"{name}: seq_len must be an integer in 1..4096, got {seq_len!r}")
    train_text, test_text = "".join(train_docs), "".join(test_docs)
    vocab = "".join(sorted(set(train_text) | set(test_text)))
    if max_chars is not None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 2:
            raise ValueError(f"{name}: max_chars must be an integer >= 2, got {max_chars!r}")
        train_text, test_text = train_text[:max_chars], test_text[:max_chars]
    tr, te = encode(train_text, vocab), encode(test_text, vocab)
    info = dict(info or {}, vocab=vocab, seq_len=seq_len, train_chars=len(tr), test_chars=len(te),
                baselines=ngram_bits(tr, te, len(vocab)))
    return DataSplit(name, TensorDataset(*windows(tr, seq_len)), TensorDataset(*windows(te, seq_len)),
                     "language_model", len(vocab), tuple(vocab), None, info)


def fortunes(seq_len=64, test_fraction=0.1, seed=0, max_chars=None, root=None):
    """Every fortune of Debian's `fortunes` package (printable ASCII; duplicates dropped), each ended by its
    "%" line."""
    root = root or os.environ.get("CHAINRULE_FORTUNES") or FORTUNES_DIR
    docs = []
    for path in _fortune_files(root):
        for doc in re.split(r"^%\n", _ascii(_read(path, "fortunes")), flags=re.M):
            if doc.strip():
                docs.append(doc if doc.endswith("\n") else doc + "\n")
    docs = [d + "%\n" for d in dict.fromkeys(docs)]  # a fortune in two files counts once
    train, test = _split_docs(docs, test_fraction, seed, "fortunes")
    return text_split("fortunes", train, test, seq_len, max_chars, {"root": root, "documents": len(docs)})


def words(seq_len=32, test_fraction=0.1, seed=0, max_chars=None, path=None):
    """The lowercase words (a-z only) of Debian's `wamerican` list, one a line."""
    path = path or os.environ.get("CHAINRULE_WORDS") or WORDS_FILE
    docs = [w + "\n" for w in _read(path, "wamerican").split("\n") if re.fullmatch(r"[a-z]+", w)]
    if len(docs) < 2:
        raise ValueError(f"words: {path} has fewer than 2 lowercase words")
    train, test = _split_docs(docs, test_fraction, seed, "words")
    return text_split("words", train, test, seq_len, max_chars, {"path": path, "documents": len(docs)})


def bits_per_char(loss_nats):
    return loss_nats / math.log(2)
