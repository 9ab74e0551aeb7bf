"""Character-level text (Debian fortunes / wamerican) and `chainrule train --model rnn|lstm|gru` (issue 15):
documents split without overlap, windows shifted by one, n-gram baselines computed independently,
a language model that beats the unigram baseline, samples, checkpoints that evaluate to the same bits."""

import collections
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import data
from chainrule import train as tr
from chainrule.data.text import FORTUNES_DIR, WORDS_FILE

needs_words = pytest.mark.skipif(not os.path.isfile(WORDS_FILE), reason="wamerican not installed")
needs_fortunes = pytest.mark.skipif(not os.path.isdir(FORTUNES_DIR), reason="fortunes not installed")


@needs_fortunes
def test_fortunes_split_by_fortune_and_windows():
    s = data.fortunes(seq_len=64)
    vocab = s.info["vocab"]
    assert s.task == "language_model" and s.num_classes == len(vocab) and vocab == "".join(sorted(vocab))
    assert "\n" in vocab and "%" in vocab and "\x08" not in vocab and "\t" not in vocab
    assert s.info["train_chars"] > 2_000_000 and s.info["test_chars"] > 150_000
    x, y = s.train.arrays
    assert x.shape[1:] == (64,) and x.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one character
    np.testing.assert_array_equal(y[:-1, -1], x[1:, 0])  # consecutive windows continue the stream
    # no fortune is on both sides: the test text's long lines never occur in the training text
    train_text = data.decode(s.train.arrays[0], vocab)
    test_text = data.decode(s.test.arrays[0], vocab)
    long_lines = [ln for ln in test_text.split("\n")[1:-1] if len(ln) > 60][:200]
    shared = sum(ln in train_text for ln in long_lines)
    assert len(long_lines) == 200 and shared <= 10, shared  # (near-duplicate fortunes differ in a word or two)
    again = data.fortunes(seq_len=64)
    np.testing.assert_array_equal(again.test.arrays[0], s.test.arrays[0])
    other = data.fortunes(seq_len=64, seed=1)
    assert not np.array_equal(other.test.arrays[0][:100], s.test.arrays[0][:100])


@needs_words
def test_words_split_by_word():
    s = data.words(seq_len=16)
    vocab = s.info["vocab"]
    assert vocab == "\nabcdefghijklmnopqrstuvwxyz" and s.info["documents"] > 60_000
    train = set(data.decode(s.train.arrays[0], vocab).split("\n")[1:-1])
    test = set(data.decode(s.test.arrays[0], vocab).split("\n")[1:-1])
    assert len(test) > 5000 and not train & test  # no word on both sides
    assert s.info["baselines"]["bigram"] < s.info["baselines"]["unigram"] < math.log2(len(vocab))


def test_ngram_baselines_against_counters():
    """Add-one smoothed unigram and bigram bits per character, counted with collections.Counter."""
    r = np.random.default_rng(0)
    V = 5
    train = r.choice(V, size=400, p=[0.4, 0.3, 0.2, 0.1, 0.0])
    test = r.choice(V, size=120)  # includes symbol 4, never seen in training
    uni, pairs, first = collections.Counter(train), collections.Counter(zip(train[:-1], train[1:])), \
        collections.Counter(train[:-1])
    u = -np.mean([math.log2((uni[c] + 1) / (len(train) + V)) for c in test[1:]])
    b = -np.mean([math.log2((pairs[(x, y)] + 1) / (first[x] + V)) for x, y in zip(test[:-1], test[1:])])
    got = data.ngram_bits(train, test, V)
    assert got["unigram"] == pytest.approx(u, rel=1e-12) and got["bigram"] == pytest.approx(b, rel=1e-12)


def test_text_split_errors():
    with pytest.raises(ValueError, match="encode: characters"):
        data.encode("caf\u00e9", "acf")
    with pytest.raises(ValueError, match="windows: 3 characters make no window of 8"):
        data.windows(np.arange(3), 8)
    with pytest.raises(FileNotFoundError, match="Debian's 'fortunes' package"):
        data.fortunes(root="/nonexistent")
    with pytest.raises(ValueError, match="seq_len must be an integer in 1..4096"):
        data.text_split("x", ["ab\n"], ["ab\n"], 0)


@needs_words
def test_train_lstm_on_words_beats_bigram_and_evaluates(tmp_path):
    cr.manual_seed(0)
    split = data.words(seq_len=32, max_chars=30_000)
    with tr.blas_threads(1):
        summary = tr.train("words", "lstm", "48", epochs=3, batch_size=32, lr=1e-2, out=str(tmp_path),
                           progress=False, split=split, log=lambda *a: None)
    bpc = summary["bits_per_char"]
    assert bpc["model"] == pytest.approx(summary["final"]["test_loss"] / math.log(2))
    assert bpc["model"] < bpc["bigram"] < bpc["unigram"]  # uses more than the previous character
    sample = open(tmp_path / "samples.txt").read()
    assert len(sample) == tr.SAMPLE_CHARS and set(sample) <= set(split.info["vocab"]) and sample == summary["sample"]
    assert json.load(open(tmp_path / "summary.json"))["architecture"]["vocab"] == split.info["vocab"]
    model, arch = tr.load_checkpoint(tmp_path / "model.safetensors")
    assert isinstance(model, cr.nn.RecurrentLM) and model.rnn.weight_hh_l0.shape == (4 * 48, 48)
    x, y = split.test.arrays
    with cr.no_grad():
        logits = model(x)
    loss = cr.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()
    assert loss == pytest.approx(summary["final"]["test_loss"], rel=1e-5)
    # the same seed draws the same sample
    assert tr.sample_text(model, split.info["vocab"], 40, seed=3) == tr.sample_text(model, split.info["vocab"],
                                                                                      40, seed=3)


def _cli(*args, cwd):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@needs_words
def test_cli_train_gru_on_words_and_evaluate(tmp_path):
    r = _cli("train", "--dataset", "words", "--model", "gru", "--hidden", "16", "--epochs", "1", "--max-chars",
             "3000", "--no-progress", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "test bits/char: model" in r.stdout and "bigram" in r.stdout and "unigram" in r.stdout
    assert (tmp_path / "run" / "samples.txt").is_file()
    r = _cli("evaluate", str(tmp_path / "run" / "model.safetensors"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["bits_per_char"] == pytest.approx(m["loss"] / math.log(2))


@pytest.mark.parametrize("args, message", [
    (("--dataset", "digits", "--model", "lstm"), "--model lstm needs a text data set (fortunes, words), not digits"),
    (("--dataset", "words", "--model", "mlp"), "--model mlp needs a data set of features, not the text data set "
                                               "words (use --model rnn|lstm|gru)"),
    (("--dataset", "words", "--model", "rnn", "--hidden", "32,16"), "the layers of a rnn have one width"),
])
def test_cli_refuses_mismatched_model_and_data(tmp_path, args, message):
    r = _cli("train", *args, "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_lm_step_by_step_equals_forward(kind):
    """Sampling steps one character at a time carrying the state: the same logits as the whole window."""
    cr.manual_seed(1)
    m = cr.nn.RecurrentLM(7, 5, kind, num_layers=2).double()
    ids = np.random.default_rng(0).integers(0, 7, size=(3, 6))
    with cr.no_grad():
        full = m(ids).data
        state, steps = None, []
        for t in range(ids.shape[1]):
            logits, state = m.step(ids[:, t], state)
            steps.append(logits.data)
    np.testing.assert_allclose(np.stack(steps, axis=1), full, atol=1e-12)
