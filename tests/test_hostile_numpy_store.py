"""A Tensor that requires grad stored into an ndarray element (issue 12's known bugs): NumPy converts it with
float() / int(), which keeps the value and drops the graph. PyTorch does the same and warns on float();
chainrule warns on both (GraphDroppedWarning, pointing at the user's line), and refuses every conversion
that goes through __array__ (a slice assignment, np.array of Tensors), as before. `.item()` is the
deliberate way to read a value and stays silent."""

import warnings

import numpy as np
import pytest

import chainrule as cr


def test_storing_a_tensor_that_requires_grad_into_an_ndarray_element_warns_at_the_users_line():
    t = cr.tensor(2.0, requires_grad=True)
    a = np.zeros(3)
    with pytest.warns(cr.GraphDroppedWarning, match=r"float\(\) of a Tensor that requires grad .*a\[i\] = t") as w:
        a[0] = t
    assert w[0].filename == __file__
    assert a[0] == 2.0
    b = np.zeros(3, dtype=np.int64)
    with pytest.warns(cr.GraphDroppedWarning, match=r"int\(\) of a Tensor"):
        b[1] = t


def test_float_and_int_of_a_tensor_that_requires_grad_warn_item_does_not():
    t = cr.tensor(3.0, requires_grad=True)
    with pytest.warns(cr.GraphDroppedWarning):
        assert float(t) == 3.0
    with pytest.warns(cr.GraphDroppedWarning):
        assert int(t) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert t.item() == 3.0
        assert float(cr.tensor(3.0)) == 3.0 and int(cr.tensor(3)) == 3   # nothing to drop
        assert float(t.detach()) == 3.0


def test_conversions_through_array_are_refused_naming_the_shape():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    a = np.zeros(4)
    with pytest.raises(TypeError, match=r"requires grad \(shape \(2,\)\).*drop its graph"):
        a[0:2] = t
    with pytest.raises(TypeError, match="drop its graph"):
        np.array([t[0], t[1]])


def test_the_training_loop_reads_losses_without_the_warning(tmp_path):
    """The library's own loop reads values with .item(): a run emits no GraphDroppedWarning."""
    from chainrule import train as T
    with warnings.catch_warnings():
        warnings.simplefilter("error", cr.GraphDroppedWarning)
        T.train("iris", "mlp", "8", epochs=1, out=str(tmp_path), progress=False, log=lambda *a: None)
