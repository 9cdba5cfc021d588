"""A constant-velocity Kalman filter over boxes, for many tracks at once (the motion model of ByteTrack).

ByteTrack (Zhang et al., ECCV 2022) predicts each track with the Kalman filter of SORT and DeepSORT
(Wojke et al., 2017): the state is ``(cx, cy, a, h, vcx, vcy, va, vh)``, the box centre, its aspect
ratio ``a = w / h``, its height and their velocities per frame; a detection measures the first four.
The noise scales with the box height (a large box moves more pixels per frame than a small one):
position terms have standard deviation ``h / 20``, velocity terms ``h / 160``, the aspect ratio fixed
small values, as in DeepSORT.

All functions take and return arrays for N tracks at once: means float64 [N, 8], covariances
float64 [N, 8, 8], measurements float64 [N, 4] ``(cx, cy, a, h)``.
"""
from __future__ import annotations

import numpy as np

#: Standard deviation of the position terms per unit of box height (DeepSORT's 1/20).
STD_POSITION = 1.0 / 20.0
#: Standard deviation of the velocity terms per unit of box height (DeepSORT's 1/160).
STD_VELOCITY = 1.0 / 160.0

_MOTION = np.eye(8)
_MOTION[:4, 4:] = np.eye(4)  # x' = x + v (one frame)
_PROJECT = np.eye(4, 8)       # a measurement sees the first four state terms


def xyxy_to_cxcyah(boxes: np.ndarray) -> np.ndarray:
    """Boxes float [N, 4] x1, y1, x2, y2 -> float64 [N, 4] (cx, cy, w / h, h); heights under 1e-6 px count as 1e-6."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], np.maximum(b[:, 3] - b[:, 1], 1e-6)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, w / h, h], axis=1)


def cxcyah_to_xyxy(z: np.ndarray) -> np.ndarray:
    """Inverse of :func:`xyxy_to_cxcyah`: float [N, >=4] (cx, cy, a, h, ...) -> float64 [N, 4] x1, y1, x2, y2."""
    z = np.asarray(z, np.float64).reshape(len(z), -1)
    h = z[:, 3]
    w = z[:, 2] * h
    return np.stack([z[:, 0] - w / 2, z[:, 1] - h / 2, z[:, 0] + w / 2, z[:, 1] + h / 2], axis=1)


def _diag(std: np.ndarray) -> np.ndarray:
    """[N, K] standard deviations -> [N, K, K] diagonal covariances."""
    out = np.zeros(std.shape + (std.shape[1],))
    idx = np.arange(std.shape[1])
    out[:, idx, idx] = std ** 2
    return out


def initiate(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks from measurements z [N, 4]: velocities zero, wide uncertainty (twice the position noise,
    ten times the velocity noise). Returns (mean [N, 8], covariance [N, 8, 8])."""
    z = np.asarray(z, np.float64).reshape(-1, 4)
    mean = np.concatenate([z, np.zeros_like(z)], axis=1)
    h = z[:, 3:4]
    one = np.ones_like(h)
    std = np.concatenate([2 * STD_POSITION * h, 2 * STD_POSITION * h, 1e-2 * one, 2 * STD_POSITION * h,
                          10 * STD_VELOCITY * h, 10 * STD_VELOCITY * h, 1e-5 * one, 10 * STD_VELOCITY * h], axis=1)
    return mean, _diag(std)


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: ``mean' = F mean``, ``cov' = F cov F^T + Q`` with Q scaled by each box's height."""
    h = mean[:, 3:4]
    one = np.ones_like(h)
    std = np.concatenate([STD_POSITION * h, STD_POSITION * h, 1e-2 * one, STD_POSITION * h,
                          STD_VELOCITY * h, STD_VELOCITY * h, 1e-5 * one, STD_VELOCITY * h], axis=1)
    return mean @ _MOTION.T, _MOTION @ cov @ _MOTION.T + _diag(std)


def update(mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct N predicted states with their measurements z [N, 4] (the Kalman gain of each track)."""
    h = mean[:, 3:4]
    one = np.ones_like(h)
    noise = _diag(np.concatenate([STD_POSITION * h, STD_POSITION * h, 1e-1 * one, STD_POSITION * h], axis=1))
    s = _PROJECT @ cov @ _PROJECT.T + noise                      # [N, 4, 4] innovation covariance
    pht = cov @ _PROJECT.T                                        # [N, 8, 4]
    gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # P H^T S^-1 (S symmetric)
    innovation = np.asarray(z, np.float64).reshape(-1, 4) - mean[:, :4]
    new_mean = mean + np.einsum("nij,nj->ni", gain, innovation)
    new_cov = cov - gain @ s @ gain.transpose(0, 2, 1)
    return new_mean, new_cov


__all__ = ["STD_POSITION", "STD_VELOCITY", "xyxy_to_cxcyah", "cxcyah_to_xyxy", "initiate", "predict", "update"]
