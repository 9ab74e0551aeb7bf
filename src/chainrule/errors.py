"""Exceptions raised by chainrule. Every message names the op and the shapes or values involved."""


class ShapeError(ValueError):
    """Shapes that an op cannot combine (broadcasting, matmul, reshape, ...)."""


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its numerical estimate."""


class AnomalyError(FloatingPointError):
    """A NaN or infinity appeared inside `cr.detect_anomaly()`."""
