"""DT(S)-RNN by hand: 2 units, transition depth 2, two steps, forward and backward in plain Python.

    z_t = tanh(W1 h_{t-1} + U1 x_t + b1)
    h_t = tanh(W2 z_t + S2 h_{t-1} + b2)
    loss = sum_t c_t . h_t

Backward (BPTT), from t = 2 down to 1, with g = dloss/dh_t (c_t plus what flows back from step t+1):
    a2 = g * (1 - h_t^2);  dW2 += a2 z_t^T;  dS2 += a2 h_{t-1}^T;  db2 += a2
    a1 = (W2^T a2) * (1 - z_t^2);  dW1 += a1 h_{t-1}^T;  dU1 += a1 x_t^T;  db1 += a1;  dx_t = U1^T a1
    dloss/dh_{t-1} = W1^T a1 + S2^T a2
"""

from __future__ import annotations

import math

import torch

from deeprnn.models import DTRNN

W1 = [[0.5, -0.3], [0.2, 0.4]]
U1 = [[1.0], [-0.5]]
B1 = [0.1, -0.2]
W2 = [[0.7, 0.1], [-0.4, 0.6]]
S2 = [[0.3, -0.2], [0.1, 0.5]]
B2 = [0.0, 0.05]
X = [[1.0], [-2.0]]  # x_1, x_2 (one input feature)
H0 = [0.2, -0.1]
C = [[1.0, -1.0], [0.5, 2.0]]  # loss weights c_1, c_2


def matvec(m, v):
    return [sum(m_ij * v_j for m_ij, v_j in zip(row, v)) for row in m]


def transposed_matvec(m, v):
    return [sum(m[i][j] * v[i] for i in range(len(m))) for j in range(len(m[0]))]


def add_outer(acc, a, b):
    for i in range(len(a)):
        for j in range(len(b)):
            acc[i][j] += a[i] * b[j]


def zeros(rows, columns):
    return [[0.0] * columns for _ in range(rows)]


def by_hand():
    hs, zs = [H0], []
    for x in X:
        h_prev = hs[-1]
        z = [math.tanh(p + q + b) for p, q, b in zip(matvec(W1, h_prev), matvec(U1, x), B1)]
        h = [math.tanh(p + q + b) for p, q, b in zip(matvec(W2, z), matvec(S2, h_prev), B2)]
        zs.append(z)
        hs.append(h)

    grads = dict(W1=zeros(2, 2), U1=zeros(2, 1), B1=[0.0, 0.0], W2=zeros(2, 2), S2=zeros(2, 2), B2=[0.0, 0.0])
    dx = [None, None]
    from_future = [0.0, 0.0]
    for t in (1, 0):
        h, h_prev, z = hs[t + 1], hs[t], zs[t]
        g = [c + f for c, f in zip(C[t], from_future)]
        a2 = [g_i * (1 - h_i * h_i) for g_i, h_i in zip(g, h)]
        add_outer(grads["W2"], a2, z)
        add_outer(grads["S2"], a2, h_prev)
        grads["B2"] = [s + a for s, a in zip(grads["B2"], a2)]
        a1 = [g_i * (1 - z_i * z_i) for g_i, z_i in zip(transposed_matvec(W2, a2), z)]
        add_outer(grads["W1"], a1, h_prev)
        add_outer(grads["U1"], a1, X[t])
        grads["B1"] = [s + a for s, a in zip(grads["B1"], a1)]
        dx[t] = transposed_matvec(U1, a1)
        from_future = [p + q for p, q in zip(transposed_matvec(W1, a1), transposed_matvec(S2, a2))]
    return hs[1:], grads, dx, from_future


def test_dts_rnn_outputs_and_gradients_by_hand():
    outputs, grads, dx, dh0 = by_hand()
    model = DTRNN(1, 2, transition_depth=2, transition_size=2, shortcut=True).double()
    first, second = model.layers
    assert second.weight_ih is None and first.weight_shortcut is None  # x_t feeds layer 1 only
    f64 = dict(dtype=torch.float64)
    with torch.no_grad():
        first.weight_hh.copy_(torch.tensor(W1, **f64))
        first.weight_ih.copy_(torch.tensor(U1, **f64))
        first.bias.copy_(torch.tensor(B1, **f64))
        second.weight_hh.copy_(torch.tensor(W2, **f64))
        second.weight_shortcut.copy_(torch.tensor(S2, **f64))
        second.bias.copy_(torch.tensor(B2, **f64))
    x = torch.tensor(X, **f64).reshape(2, 1, 1).requires_grad_()  # (T, B, features)
    h0 = torch.tensor(H0, **f64).reshape(1, 1, 2).requires_grad_()
    output, h_n = model(x, h0)
    (output[:, 0] * torch.tensor(C, **f64)).sum().backward()

    expected = {
        "outputs": (output[:, 0], outputs), "h_n": (h_n[0, 0], outputs[-1]), "dx": (x.grad[:, 0], dx),
        "dh0": (h0.grad[0, 0], dh0),
        "dW1": (first.weight_hh.grad, grads["W1"]), "dU1": (first.weight_ih.grad, grads["U1"]),
        "db1": (first.bias.grad, grads["B1"]), "dW2": (second.weight_hh.grad, grads["W2"]),
        "dS2": (second.weight_shortcut.grad, grads["S2"]), "db2": (second.bias.grad, grads["B2"]),
    }
    for name, (got, by_hand_value) in expected.items():
        torch.testing.assert_close(got, torch.tensor(by_hand_value, **f64), rtol=0, atol=1e-12, msg=name)


def test_first_step_matches_a_written_out_number():
    # h_1 written out once more as a scalar formula, as a check on the helpers above
    z1 = math.tanh(0.5 * 0.2 - 0.3 * -0.1 + 1.0 * 1.0 + 0.1)
    z2 = math.tanh(0.2 * 0.2 + 0.4 * -0.1 - 0.5 * 1.0 - 0.2)
    h1 = math.tanh(0.7 * z1 + 0.1 * z2 + 0.3 * 0.2 - 0.2 * -0.1 + 0.0)
    assert math.isclose(by_hand()[0][0][0], h1, abs_tol=1e-15)
