"""Logistic regression fitted on the driver (the detectors of evaluation, training and filters)."""

from __future__ import annotations

import numpy as np
import torch


def fit_logistic(x: np.ndarray, y: np.ndarray, *, seed: int, steps: int = 300) -> np.ndarray:
    """L2-regularised logistic regression by full-batch L-BFGS (torch); returns the weights.

    The weights are those of the columns of ``x`` then the intercept (last).
    """
    torch.manual_seed(seed)
    features = torch.as_tensor(np.hstack([x, np.ones((len(x), 1))]), dtype=torch.float64)
    target = torch.as_tensor(y, dtype=torch.float64)
    weights = torch.zeros(features.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = features @ weights
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        loss = loss + 1e-3 * (weights[:-1] ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach().numpy()
