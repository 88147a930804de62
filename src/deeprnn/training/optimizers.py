"""The authors' optimiser: SGD whose momentum-applied gradient is clipped (``optim.name = "sgd-clipped-momentum"``).

pascanur/GroundHog, ``groundhog/trainer/SGD_momentum.py``, does at each step, with momentum μ, clipping
threshold c (``state['cutoff']``) and learning rate lr:

    v_t = μ v_{t-1} + g_t,  then  v_t ← v_t · c / ‖v_t‖  if ‖v_t‖ ≥ c   (one norm over all parameters)
    θ_t = θ_{t-1} - lr · v_t

The clipped v_t is what is stored for the next step. ``torch.optim.SGD`` after ``clip_grad_norm_`` clips g_t
before the momentum instead, so its velocity can grow to c / (1 - μ): 200 c at GroundHog's μ = 0.995, where
GroundHog's step never exceeds lr · c. That is why its tutorial can use lr = 1 with μ = 0.995 (docs/models.md).

Where we differ: GroundHog replaces a non-finite clipped gradient by 0.1 θ (its step then shrinks the weights);
here, as for every optimiser in deeprnn, a step with a non-finite loss or gradient is skipped and the
velocity kept (trainer.training_step).
"""

from __future__ import annotations

import torch


class ClippedMomentumSGD(torch.optim.Optimizer):
    """SGD with momentum whose velocity (the momentum-applied gradient) is clipped to a global norm.

    ``max_norm`` None or 0 leaves the velocity unclipped, which is then ``torch.optim.SGD`` with ``momentum``
    and ``dampening=0``. ``weight_decay`` adds ``weight_decay · θ`` to the gradient, as torch's SGD does.
    """

    def __init__(self, params, lr: float, momentum: float, max_norm: float | None = None, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, max_norm=max_norm, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        velocities = []  # (group, parameter, velocity) for every parameter with a gradient
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                gradient = p.grad if not group["weight_decay"] else p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                velocity = state["momentum_buffer"].mul_(group["momentum"]).add_(gradient)
                velocities.append((group, p, velocity))
        if not velocities:
            return loss
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v) for _, _, v in velocities]))
        for group, p, velocity in velocities:
            if group["max_norm"] and norm >= group["max_norm"]:
                velocity.mul_(group["max_norm"] / norm)
            p.add_(velocity, alpha=-group["lr"])
        return loss
