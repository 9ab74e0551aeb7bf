"""Debugging the backward pass: numerical checks (gradcheck, check_graph), anomaly mode, and the
backward-flow record behind `explain`. Each attaches to the engine as an observer or from outside."""

from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .check import (
                    GraphCheckReport,
                    NodeCheck,
                    check_graph,
                    gradcheck,
                    gradgradcheck,
                    numerical_gradient,
                    numerical_vjp,
                    rel_error,
)

__all__ = ["detect_anomaly", "is_anomaly_enabled", "set_detect_anomaly", "GraphCheckReport", "NodeCheck",
           "check_graph", "gradcheck", "gradgradcheck", "numerical_gradient", "numerical_vjp", "rel_error"]
