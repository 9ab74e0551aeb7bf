"""Each worked example in examples/ runs in its reduced mode, improves its metric and writes its figure."""

import importlib.util
import os
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from chainrule.data.datasets import FASHION_MNIST_DIR  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def one_blas_thread():
    from chainrule.train import blas_threads

    with blas_threads(1):  # small matrices: threads only fight over the shared cores
        yield


def run(name, tmp_path, *argv):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    m = mod.main(["--quick", "--out", str(tmp_path), *argv])
    with open(m["figure"], "rb") as f:
        assert f.read(8) == PNG
    assert os.path.dirname(m["figure"]) == str(tmp_path)
    return m


def test_bernoulli_breast_cancer(tmp_path):
    m = run("bernoulli_breast_cancer", tmp_path)
    assert m["final_loss"] < m["initial_loss"]
    assert m["test_accuracy"] > max(m["initial_accuracy"], 0.8)


def test_gaussian_diabetes(tmp_path):
    m = run("gaussian_diabetes", tmp_path)
    assert m["final_loss"] < m["initial_loss"]
    assert m["test_r2"] > m["initial_r2"] and m["test_r2"] > 0.2
    assert m["least_squares_r2"] > 0.45  # what full training converges to


def test_mixture_density(tmp_path):
    m = run("mixture_density", tmp_path)
    assert m["mdn_nll"] < m["initial_mdn_nll"]


def test_vae_digits(tmp_path):
    m = run("vae_digits", tmp_path)
    assert m["test_neg_elbo"] < m["initial_neg_elbo"] - 5


def test_gan_mixture(tmp_path):
    m = run("gan_mixture", tmp_path)
    assert m["mean_distance"] < m["initial_mean_distance"]


def test_made_digits(tmp_path):
    m = run("made_digits", tmp_path)
    assert m["test_nll"] < m["initial_nll"] - 5
    assert 0 < m["baseline_nll"] < m["initial_nll"]


def test_spiral(tmp_path):
    m = run("spiral", tmp_path)
    assert m["net_accuracy"] > m["linear_accuracy"] > m["initial_accuracy"] - 0.05
    assert m["net_accuracy"] > 0.8


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed")
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_multinoulli_fashion_mnist(tmp_path, model):
    m = run("multinoulli_fashion_mnist", tmp_path, "--model", model, "--no-progress")
    assert m["final_loss"] < m["initial_loss"]
    assert m["test_accuracy"] > m["initial_accuracy"] + 0.2
    assert os.path.exists(m["history_figure"])


def test_an_example_runs_as_a_script(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src"), OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, "spiral.py"), "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "training accuracy" in p.stdout and (tmp_path / "spiral.png").exists()


@pytest.mark.skipif(not os.path.isdir("/usr/share/games/fortunes"), reason="fortunes not installed")
def test_char_lm(tmp_path):
    m = run("char_lm", tmp_path, "--model", "lstm")
    assert m["lstm_bits"] < m["lstm_initial_bits"] - 0.5
    assert m["lstm_initial_bits"] > m["baselines"]["unigram"]  # an untrained model knows nothing
    assert (tmp_path / "char_lm_samples.txt").read_text().startswith("== lstm:")
