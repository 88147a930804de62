"""Unit nonlinearities for deep transitions and deep outputs.

A layer of ``size`` units computes its pre-activations with one linear map and then applies one of these
modules. Pointwise units need one linear response per unit; pooling units (L_p, maxout) pool a group of
``pool_size`` responses into one unit, so their linear map has ``size * pool_size`` outputs. Every module
says how many responses it needs in ``input_size``; layer sizes always count units after pooling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from deeprnn.models.checks import check_choice, check_positive

ACTIVATIONS = ("tanh", "relu", "sigmoid", "lp", "maxout")


class Pointwise(nn.Module):
    """tanh, relu or sigmoid applied to each linear response: one response per unit."""

    functions = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}

    def __init__(self, name: str, size: int):
        super().__init__()
        self.name, self.size, self.input_size = name, size, size

    def forward(self, z):
        return self.functions[self.name](z)

    def extra_repr(self):
        return f"{self.name}, size={self.size}"


class LpPool(nn.Module):
    """L_p units (Gulcehre, Cho, Pascanu & Bengio 2014).

    Unit j pools its group of N = ``pool_size`` linear responses z_{j,1..N}:

        y_j = ((1/N) sum_i |z_{j,i} - c_{j,i}|^{p_j})^{1/p_j},   p_j = 1 + softplus(rho_j) >= 1,

    with learned centres c and a learned order p per unit. Initialisation: c = 0 and p = 2 (a smooth
    root-mean-square of the group; p = 1 would start every unit on the kink of |.|).
    """

    def __init__(self, size: int, pool_size: int):
        super().__init__()
        self.size, self.pool_size, self.input_size = size, pool_size, size * pool_size
        self.centres = nn.Parameter(torch.zeros(size, pool_size))
        self.rho = nn.Parameter(torch.full((size,), math.log(math.e - 1.0)))  # softplus(rho) = 1, so p = 2

    @property
    def p(self):
        return 1.0 + F.softplus(self.rho)

    def forward(self, z):
        return lp_pool(z, self.centres, self.p)

    def extra_repr(self):
        return f"size={self.size}, pool_size={self.pool_size}"


def lp_pool(z, centres, p):
    """The L_p units' output: z (..., size * pool_size), centres (size, pool_size), p (size,) -> (..., size)."""
    distance = (z.unflatten(-1, centres.shape) - centres).abs()
    p = p.unsqueeze(-1)
    # Divide by the group's largest distance before raising to the power p and multiply back after: the
    # same value, but no overflow once p is learned large. The clamps only matter when a whole group sits
    # exactly on its centres (e.g. zero input and state at init): they keep the gradient finite there.
    tiny = torch.finfo(z.dtype).tiny
    scale = distance.amax(-1, keepdim=True).clamp_min(tiny)
    mean_power = (distance / scale).pow(p).mean(-1, keepdim=True).clamp_min(tiny)
    return (scale * mean_power.pow(1.0 / p)).squeeze(-1)


def lp_pool_derivatives(z, y, centres, p):
    """(dy/dz (..., size, pool_size), dy/dp (..., size)) of ``lp_pool`` at z, whose output is y.

    With d_i = |z_i - c_i|, N = pool_size and r_i = d_i / y (so that mean_i r_i^p = 1):
        dy/dz_i = sign(z_i - c_i) r_i^(p-1) / N,     dy/dc_i = -dy/dz_i,
        dy/dp   = (y / p) mean_i r_i^p ln r_i.
    For the fast path's batched backward (deeprnn.models.fast); tested against autograd through ``lp_pool``.
    """
    difference = z.unflatten(-1, centres.shape) - centres
    ratio = difference.abs() / y.unsqueeze(-1).clamp_min(torch.finfo(z.dtype).tiny)
    power = ratio.pow(p.unsqueeze(-1) - 1)  # r^(p-1)
    d_z = difference.sign().mul_(power).div_(centres.shape[-1])
    d_p = y / p * torch.xlogy(power.mul_(ratio), ratio).mean(-1)  # r^p ln r, 0 where r = 0
    return d_z, d_p


def maxout_derivative(z, y, size: int, pool_size: int):
    """dy/dz (..., size, pool_size) of maxout: 1 at the group's maximum (shared equally among ties, as the
    gradient of ``amax``), 0 elsewhere."""
    at_max = (z.unflatten(-1, (size, pool_size)) == y.unsqueeze(-1)).to(z.dtype)
    return at_max.div_(at_max.sum(-1, keepdim=True))


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013): y_j = max_i z_{j,i} over a group of k = ``pool_size``
    responses."""

    def __init__(self, size: int, pool_size: int):
        super().__init__()
        self.size, self.pool_size, self.input_size = size, pool_size, size * pool_size

    def forward(self, z):
        return z.unflatten(-1, (self.size, self.pool_size)).amax(-1)

    def extra_repr(self):
        return f"size={self.size}, pool_size={self.pool_size}"


def get_activation(name: str, size: int, pool_size: int = 2) -> nn.Module:
    """The nonlinearity of a layer of ``size`` units; its linear map needs ``module.input_size`` outputs."""
    check_choice("activation", name, ACTIVATIONS)
    check_positive("size", size)
    if name == "lp":
        check_positive("pool_size", pool_size)
        return LpPool(size, pool_size)
    if name == "maxout":
        check_positive("pool_size", pool_size)
        return Maxout(size, pool_size)
    return Pointwise(name, size)

