"""Every exception chainrule defines. Each message names the op and the shapes or values involved."""


class ShapeError(ValueError):
    """Shapes that an op cannot combine (broadcasting, matmul, reshape, ...)."""


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its numerical estimate."""


class AnomalyError(FloatingPointError):
    """A NaN or infinity appeared inside `cr.detect_anomaly()`."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read safely (bad header, offsets, dtype, or a pickle)."""


class GraphvizNotFound(RuntimeError):
    """Graphviz's `dot` executable is missing."""


class ExprError(ValueError):
    """An expression `chainrule explain` refuses or cannot evaluate. The message is one line."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


class UsageError(Exception):
    """A bad option or argument of the `chainrule` command: printed as one line, exit status 2."""


class TrainingStopped(RuntimeError):
    """A training run stopped early at a non-finite loss; the message says where and what was saved."""


class TrainingInterrupted(TrainingStopped):
    """A training run stopped by Ctrl-C (SIGINT) after saving its last completed epoch."""


class CompileError(RuntimeError):
    """`cr.compile` cannot record or replay a function faithfully; the message says what to change."""


class GraphDroppedWarning(UserWarning):
    """`float(t)` or `int(t)` on a Tensor that requires grad: the Python number has no graph (NumPy does
    this when a Tensor is stored into one element of an ndarray, `a[0] = t`)."""
