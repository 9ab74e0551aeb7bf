"""Layers in the style of the CS231n assignment-2 reference code: NumPy functions on arrays
(np.reshape and .dot, np.maximum, np.pad, sliding_window_view, np.tensordot, np.transpose,
np.expand_dims, np.concatenate, np.where, np.max/np.sum/np.exp/np.log, np.mean/np.var, fancy
indexing and an indexed assignment). Run on chainrule Tensors they record; no torch here."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def affine_forward(x, w, b):
    out = np.reshape(x, (x.shape[0], -1)).dot(w) + b
    cache = (x, w, b)
    return out, cache


def relu_forward(x):
    out = np.maximum(0, x)
    return out, x


def leaky_relu_forward(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def conv_forward_windows(x, w, b, conv_param):
    """The convolution as the windows of the padded input contracted with the filters."""
    stride, pad = conv_param['stride'], conv_param['pad']
    HH, WW = w.shape[2], w.shape[3]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
    windows = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))      # (N, H', W', F)
    out = np.transpose(out, (0, 3, 1, 2)) + np.expand_dims(np.expand_dims(b, 1), 2)
    return out, (x, w, b, conv_param)


def max_pool_forward_reshape(x, pool_param):
    N, C, H, W = x.shape
    ph, pw = pool_param['pool_height'], pool_param['pool_width']
    x_reshaped = x.reshape(N, C, H // ph, ph, W // pw, pw)
    out = x_reshaped.max(axis=3).max(axis=4)
    return out, (x, x_reshaped, out)


def batchnorm_forward_train(x, gamma, beta, eps=1e-5):
    sample_mean = np.mean(x, axis=0)
    sample_var = np.var(x, axis=0)
    x_hat = (x - sample_mean) / np.sqrt(sample_var + eps)
    return gamma * x_hat + beta


def softmax_loss(x, y):
    shifted_logits = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    log_probs = shifted_logits - np.log(Z)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    return loss


def svm_loss(x, y):
    N = x.shape[0]
    correct_class_scores = x[np.arange(N), y]
    margins = np.maximum(0, x - correct_class_scores[:, np.newaxis] + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    return loss


def two_branch(x, w1, w2):
    """Features from two affine branches, joined: np.concatenate along the feature axis."""
    return np.concatenate([np.dot(x, w1), np.dot(x, w2)], axis=1)
