"""Reinforcement-learning programs as torch users write them, each written once as a function of the library module
and run with torch 2.13 and with ``backprop`` standing in for it from the same NumPy-made weights and transitions:
DQN and Double DQN (a replay buffer of tensors, ``stack``, ``gather`` on ``unsqueeze``d actions, ``max(1)[0]``,
a target network with ``load_state_dict`` and soft updates, Huber losses, gradient clipping), REINFORCE and A2C
(discounted returns, ``Categorical`` after ``manual_seed``), PPO as CleanRL writes it (``torch.Tensor(obs)`` of
float64 observations, GAE, NumPy-shuffled minibatches, value clipping), SAC and TD3 (``rsample``, the tanh
correction, ``Independent``, twin Q, alpha tuning, target smoothing noise), TRPO's Fisher-vector products, masked
``Categorical`` logits and epsilon-greedy draws. Then the slips: ``mse_loss`` broadcasting warnings,
``torch.tensor(log_probs)`` dropping the graph (torch's warning), and the legacy ``torch.Tensor`` constructor.
Observations and rewards come in as RL code takes them from an environment, ``torch.Tensor(obs)`` of float64 NumPy
arrays: float32 in torch (backprop kept float64, and the float32 ``Linear`` layers refused it)."""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")


def _np(x: Any) -> Any:
    """Tensors (in lists and tuples) as NumPy arrays, other values as they are."""
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    if hasattr(x, "detach"):
        return np.asarray(x.detach().numpy())
    return x


def _close(ours: Any, theirs: Any, rtol: float, path: str = "out") -> None:
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _close(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape and ours.dtype == theirs.dtype, path
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, err_msg=path)
    else:
        assert ours == theirs, path


def same_as_torch(program: Any, rtol: float = 1e-5) -> None:
    _close(_np(program(bp)), _np(program(torch)), rtol)


def W(L: Any, *shape: int, seed: int = 0) -> Any:
    return L.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.3)


def _load(L: Any, module: Any, seed: int = 0) -> Any:
    with L.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(W(L, *p.shape, seed=seed + i))
    return module


def _mlp(L: Any, n_in: int, n_out: int, seed: int = 0, hidden: int = 16) -> Any:
    nn = L.nn
    return _load(L, nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out)), seed)


# ---------------------------------------------------------------- value-based: DQN, Double DQN


@pytest.mark.parametrize("variant", ["dqn_smooth_l1", "double_dqn_huber", "dqn_mse"])
def test_dqn_with_replay_buffer_target_network_and_soft_updates(variant: str) -> None:
    """A replay buffer of tensors sampled with ``randint``, ``gather`` on ``unsqueeze``d int64 actions, the target's
    ``max(1)[0]`` (or Double DQN's ``argmax`` then ``gather``) under ``no_grad``, a Huber loss, both clippings and
    soft updates through ``lerp_`` and ``mul_().add_()``: losses, norms, sampled indices and parameters are torch's."""

    def program(L: Any) -> list:
        F = L.nn.functional
        L.manual_seed(0)
        q, tgt = _mlp(L, 4, 3), _mlp(L, 4, 3, seed=9)
        tgt.load_state_dict(q.state_dict())
        opt = L.optim.Adam(q.parameters(), lr=1e-2)
        rng = np.random.default_rng(1)
        buf = []
        for _ in range(32):
            s, s2 = (L.Tensor(rng.standard_normal(4)) for _ in range(2))
            buf.append((s, L.tensor(int(rng.integers(3))), float(rng.standard_normal()), s2, float(rng.random() < 0.1)))
        out: list = []
        for step in range(4):
            idx = L.randint(0, len(buf), (8,))
            s, a, r, s2, d = zip(*[buf[i] for i in idx.tolist()])
            s, a, s2 = L.stack(s), L.stack(a), L.stack(s2)
            r, d = L.tensor(r, dtype=L.float32), L.tensor(d)
            qsa = q(s).gather(1, a.unsqueeze(1)).squeeze(1)
            with L.no_grad():
                if variant.startswith("double"):
                    nq = tgt(s2).gather(1, q(s2).argmax(1, keepdim=True)).squeeze(1)
                else:
                    nq = tgt(s2).max(1)[0]
                y = r + 0.99 * nq * (1 - d)
            if variant.endswith("smooth_l1"):
                loss = F.smooth_l1_loss(qsa, y)
            elif variant.endswith("huber"):
                loss = F.huber_loss(qsa, y, delta=0.5)
            else:
                loss = F.mse_loss(qsa, y)
            opt.zero_grad()
            loss.backward()
            norm = L.nn.utils.clip_grad_norm_(q.parameters(), 1.0)
            L.nn.utils.clip_grad_value_(q.parameters(), 0.05)
            opt.step()
            with L.no_grad():
                for tp, p in zip(tgt.parameters(), q.parameters()):
                    if step % 2:
                        tp.lerp_(p, 0.1)
                    else:
                        tp.mul_(0.9).add_(0.1 * p)
            out += [loss, norm, qsa, y, idx, a.dtype == L.int64, d.dtype == L.float32]
        return out + list(q.parameters()) + list(tgt.parameters())

    same_as_torch(program)


# ---------------------------------------------------------------- policy gradients: REINFORCE, A2C


def test_reinforce_with_categorical_samples_and_normalised_returns() -> None:
    """``Categorical(logits=...)`` sampled after ``manual_seed``, returns by a reversed loop (and by
    ``flip``/``cumsum``), normalised with ``std() + eps``, an entropy bonus and SGD: torch's actions and weights."""

    def program(L: Any) -> list:
        nn = L.nn
        L.manual_seed(3)
        pol = _load(L, nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)))
        opt = L.optim.SGD(pol.parameters(), lr=0.1)
        rng = np.random.default_rng(0)
        out: list = []
        for _ in range(3):
            logps, rews, ents, acts = [], [], [], []
            for _ in range(6):
                dist = L.distributions.Categorical(logits=pol(L.Tensor(rng.standard_normal(4))))
                a = dist.sample()
                acts.append(a)
                logps.append(dist.log_prob(a))
                ents.append(dist.entropy())
                rews.append(1.0 if a.item() == 0 else -0.5)
            R, rets = 0.0, []
            for r in reversed(rews):
                R = r + 0.9 * R
                rets.insert(0, R)
            rets = L.tensor(rets)
            rets = (rets - rets.mean()) / (rets.std() + 1e-8)
            disc = 0.9 ** L.arange(len(rews))
            rets2 = L.flip(L.cumsum(L.flip(L.tensor(rews) * disc, (0,)), 0), (0,)) / disc
            loss = -(L.stack(logps) * rets).sum() - 0.01 * L.stack(ents).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            out += [loss, rets, rets2, L.stack(acts), rets.std(unbiased=False), rets.std(correction=0)]
        return out + list(pol.parameters())

    same_as_torch(program)


def test_a2c_with_shared_body_bootstrapped_returns_and_rmsprop() -> None:
    """An actor-critic with a shared body over a (T, envs) rollout: bootstrapped returns written into a
    ``zeros_like`` buffer in a reversed loop masked by ``~done``, a detached advantage, RMSprop and clipping."""

    def program(L: Any) -> list:
        nn, F = L.nn, L.nn.functional
        L.manual_seed(5)

        class AC(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body, self.pi, self.v = nn.Linear(3, 16), nn.Linear(16, 4), nn.Linear(16, 1)

            def forward(self, x: Any) -> Any:
                h = F.relu(self.body(x))
                return self.pi(h), self.v(h)

        m = _load(L, AC())
        opt = L.optim.RMSprop(m.parameters(), lr=7e-4, alpha=0.99, eps=1e-5)
        rng = np.random.default_rng(2)
        S = L.Tensor(rng.standard_normal((5, 8, 3)))
        R = L.Tensor(rng.standard_normal((5, 8)))
        D = L.tensor(rng.random((5, 8)) < 0.2)
        out: list = []
        for _ in range(3):
            logits, v = m(S.reshape(-1, 3))
            v = v.view(5, 8)
            dist = L.distributions.Categorical(logits=logits.view(5, 8, 4))
            a = dist.sample()
            with L.no_grad():
                ret = m(S[-1])[1].squeeze(-1)
            rets = L.zeros_like(R)
            for t in reversed(range(5)):
                ret = R[t] + 0.99 * ret * (~D[t]).float()
                rets[t] = ret
            adv = rets - v
            loss = -(dist.log_prob(a) * adv.detach()).mean() + 0.5 * adv.pow(2).mean() - 0.01 * dist.entropy().mean()
            opt.zero_grad()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(m.parameters(), 0.5)
            opt.step()
            out += [a, rets, loss, norm, dist.probs]
        return out + list(m.parameters())

    same_as_torch(program)


# ---------------------------------------------------------------- PPO as CleanRL writes it


def test_cleanrl_ppo_with_legacy_tensor_constructor_gae_and_value_clipping() -> None:
    """CleanRL's ppo.py: ``torch.Tensor(obs)`` of float64 observations and bool dones (float32 in torch; backprop
    kept float64 and bool, so the ``Linear`` refused them and ``1.0 - next_done`` raised), preallocated rollout
    buffers, GAE in a reversed loop, minibatches indexed by NumPy-shuffled indices, ratio clipping, approx KL and
    value clipping: the advantages, losses and weights are torch's."""

    def program(L: Any) -> list:
        nn = L.nn
        L.manual_seed(1)

        def layer_init(layer: Any, bias_const: float = 0.0) -> Any:
            L.nn.init.constant_(layer.bias, bias_const)
            return layer

        critic = _load(L, nn.Sequential(layer_init(nn.Linear(4, 8)), nn.Tanh(), layer_init(nn.Linear(8, 1))))
        actor = _load(L, nn.Sequential(layer_init(nn.Linear(4, 8)), nn.Tanh(), layer_init(nn.Linear(8, 2))), 5)
        opt = L.optim.Adam(list(critic.parameters()) + list(actor.parameters()), lr=2.5e-4, eps=1e-5)
        rng = np.random.default_rng(0)
        steps, envs = 8, 2
        obs = L.zeros((steps, envs) + (4,))
        actions, logprobs, rewards, dones, values = (L.zeros((steps, envs)) for _ in range(5))
        next_obs, next_done = L.Tensor(rng.standard_normal((envs, 4))), L.zeros(envs)
        out: list = [next_obs.dtype == L.float32]
        for step in range(steps):
            obs[step] = next_obs
            dones[step] = next_done
            with L.no_grad():
                probs = L.distributions.categorical.Categorical(logits=actor(next_obs))
                action = probs.sample()
                values[step] = critic(next_obs).flatten()
            actions[step] = action
            logprobs[step] = probs.log_prob(action)
            rewards[step] = L.tensor(rng.standard_normal(envs)).view(-1)
            next_obs, next_done = L.Tensor(rng.standard_normal((envs, 4))), L.Tensor(rng.random(envs) < 0.2)
        out.append(next_done.dtype == L.float32)
        with L.no_grad():
            next_value = critic(next_obs).reshape(1, -1)
            advantages, lastgaelam = L.zeros_like(rewards), 0
            for t in reversed(range(steps)):
                if t == steps - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + 0.99 * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + 0.99 * 0.95 * nextnonterminal * lastgaelam
            returns = advantages + values
        b_obs, b_logprobs, b_actions = obs.reshape((-1, 4)), logprobs.reshape(-1), actions.reshape(-1)
        b_adv, b_ret, b_val = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
        b_inds, shuffle = np.arange(16), np.random.default_rng(5)
        out += [advantages, returns]
        for _ in range(2):
            shuffle.shuffle(b_inds)
            for start in range(0, 16, 8):
                mb = b_inds[start : start + 8]
                probs = L.distributions.Categorical(logits=actor(b_obs[mb]))
                logratio = probs.log_prob(b_actions.long()[mb]) - b_logprobs[mb]
                ratio = logratio.exp()
                with L.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfrac = ((ratio - 1.0).abs() > 0.2).float().mean().item()
                mb_adv = (b_adv[mb] - b_adv[mb].mean()) / (b_adv[mb].std() + 1e-8)
                pg_loss = L.max(-mb_adv * ratio, -mb_adv * L.clamp(ratio, 0.8, 1.2)).mean()
                newvalue = critic(b_obs[mb]).view(-1)
                v_clipped = b_val[mb] + L.clamp(newvalue - b_val[mb], -0.2, 0.2)
                v_loss = 0.5 * L.max((newvalue - b_ret[mb]) ** 2, (v_clipped - b_ret[mb]) ** 2).mean()
                loss = pg_loss - 0.01 * probs.entropy().mean() + v_loss * 0.5
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(list(actor.parameters()) + list(critic.parameters()), 0.5)
                opt.step()
                out += [loss, approx_kl, clipfrac]
        return out + list(actor.parameters()) + list(critic.parameters())

    same_as_torch(program, rtol=1e-4)


def test_ppo_continuous_with_gaussian_policy_randperm_minibatches() -> None:
    """A Gaussian policy with a state-independent ``log_std`` parameter: ``Normal(...).sample()`` under
    ``no_grad``, GAE, ``randperm`` minibatches, ``torch.min`` of the clipped surrogates: torch's values."""

    def program(L: Any) -> list:
        nn = L.nn
        L.manual_seed(7)
        actor = _load(L, nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2)))
        critic = _load(L, nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)), seed=10)
        log_std = nn.Parameter(L.zeros(2))
        opt = L.optim.Adam([*actor.parameters(), *critic.parameters(), log_std], lr=3e-4, eps=1e-5)
        rng = np.random.default_rng(3)
        T = 16
        obs = L.Tensor(rng.standard_normal((T, 3)))
        rew = L.Tensor(rng.standard_normal(T))
        done = L.tensor((rng.random(T) < 0.1).astype(np.float32))
        with L.no_grad():
            mu = actor(obs)
            dist = L.distributions.Normal(mu, log_std.exp().expand_as(mu))
            act = dist.sample()
            old_logp, vals = dist.log_prob(act).sum(-1), critic(obs).squeeze(-1)
            adv, last = L.zeros_like(rew), 0
            for t in reversed(range(T)):
                next_v = L.tensor(0.0) if t == T - 1 else vals[t + 1]
                delta = rew[t] + 0.99 * next_v * (1 - done[t]) - vals[t]
                last = delta + 0.99 * 0.95 * (1 - done[t]) * last
                adv[t] = last
        out = [act, old_logp, adv]
        for _ in range(2):
            perm = L.randperm(T)
            for start in range(0, T, 8):
                mb = perm[start : start + 8]
                d = L.distributions.Normal(actor(obs[mb]), log_std.exp())
                ratio = (d.log_prob(act[mb]).sum(-1) - old_logp[mb]).exp()
                a = (adv[mb] - adv[mb].mean()) / (adv[mb].std() + 1e-8)
                pg = -L.min(a * ratio, a * ratio.clamp(1 - 0.2, 1 + 0.2)).mean()
                vl = 0.5 * ((critic(obs[mb]).view(-1) - (adv + vals)[mb]) ** 2).mean()
                loss = pg - 0.01 * d.entropy().sum(-1).mean() + 0.5 * vl
                opt.zero_grad()
                loss.backward()
                opt.step()
                out += [perm, pg, vl, ratio]
        return out + list(actor.parameters()) + [log_std]

    same_as_torch(program)


# ---------------------------------------------------------------- off-policy continuous control: SAC, TD3


def test_sac_with_tanh_squashing_twin_q_and_alpha_tuning() -> None:
    """SAC: a clamped ``log_std``, ``Normal.rsample``, the tanh log-prob correction written two ways (``log(1 -
    a^2 + eps)`` and ``Independent`` with the softplus form), twin target critics as ``deepcopy``s with
    ``minimum``, ``log_alpha.exp()`` tuning and Polyak updates through ``.data``: torch's losses and weights."""

    def program(L: Any) -> list:
        nn, F, D = L.nn, L.nn.functional, L.distributions
        L.manual_seed(11)

        class Actor(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = nn.Sequential(nn.Linear(3, 32), nn.ReLU())
                self.mu, self.log_std = nn.Linear(32, 2), nn.Linear(32, 2)

            def forward(self, x: Any) -> Any:
                h = self.net(x)
                mu, std = self.mu(h), L.clamp(self.log_std(h), -20, 2).exp()
                u = D.Normal(mu, std).rsample()
                a = L.tanh(u)
                logp = (D.Normal(mu, std).log_prob(u) - L.log(1 - a.pow(2) + 1e-6)).sum(1, keepdim=True)
                logp2 = D.Independent(D.Normal(mu, std), 1).log_prob(u) - (
                    2 * (np.log(2) - u - F.softplus(-2 * u))
                ).sum(-1)
                return a, logp, logp2

        actor = _load(L, Actor())
        q1, q2 = _mlp(L, 5, 1, seed=20, hidden=32), _mlp(L, 5, 1, seed=30, hidden=32)
        q1t, q2t = copy.deepcopy(q1), copy.deepcopy(q2)
        for p in [*q1t.parameters(), *q2t.parameters()]:
            p.requires_grad = False
        log_alpha = L.zeros(1, requires_grad=True)
        a_opt, p_opt = L.optim.Adam([log_alpha], lr=3e-4), L.optim.Adam(actor.parameters(), lr=3e-4)
        q_opt = L.optim.Adam([*q1.parameters(), *q2.parameters()], lr=3e-4)
        rng = np.random.default_rng(4)
        s, s2 = (L.Tensor(rng.standard_normal((16, 3))) for _ in range(2))
        a = L.Tensor(rng.uniform(-1, 1, (16, 2)))
        r, d = L.Tensor(rng.standard_normal((16, 1))), L.zeros(16, 1)
        out: list = []
        for _ in range(3):
            alpha = log_alpha.exp()
            with L.no_grad():
                a2, logp2, _ = actor(s2)
                sa2 = L.cat([s2, a2], 1)
                y = r + 0.99 * (1 - d) * (L.min(q1t(sa2), q2t(sa2)) - alpha * logp2)
            sa = L.cat([s, a], 1)
            q_loss = F.mse_loss(q1(sa), y) + F.mse_loss(q2(sa), y)
            q_opt.zero_grad()
            q_loss.backward()
            q_opt.step()
            pa, logp, logp_b = actor(s)
            psa = L.cat([s, pa], -1)
            pi_loss = (alpha.detach() * logp - L.minimum(q1(psa), q2(psa))).mean()
            p_opt.zero_grad()
            pi_loss.backward()
            p_opt.step()
            alpha_loss = -(log_alpha * (logp + (-2.0)).detach()).mean()
            a_opt.zero_grad()
            alpha_loss.backward()
            a_opt.step()
            with L.no_grad():
                for p, tp in zip(q1.parameters(), q1t.parameters()):
                    tp.data.mul_(0.995)
                    tp.data.add_(0.005 * p.data)
                for p, tp in zip(q2.parameters(), q2t.parameters()):
                    tp.data.copy_(0.005 * p.data + 0.995 * tp.data)
            out += [q_loss, pi_loss, alpha_loss, log_alpha.clone(), logp, logp_b, pa]
        return out + list(q1t.parameters()) + list(actor.parameters())

    same_as_torch(program, rtol=1e-4)


def test_td3_target_policy_smoothing_and_broadcast_warning() -> None:
    """TD3's clipped ``randn_like`` smoothing noise and clamped target actions; the critic's (N, 1) output
    against an (N,) reward gives torch's ``mse_loss`` broadcasting warning and torch's (wrong) loss."""

    def program(L: Any) -> list:
        nn, F = L.nn, L.nn.functional
        L.manual_seed(12)
        actor = _load(L, nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2), nn.Tanh()))
        actor_t = copy.deepcopy(actor)
        q = _mlp(L, 5, 1, seed=20)
        q_t = copy.deepcopy(q)
        rng = np.random.default_rng(4)
        s, s2 = (L.Tensor(rng.standard_normal((16, 3))) for _ in range(2))
        a = L.Tensor(rng.uniform(-1, 1, (16, 2)))
        r = L.Tensor(rng.standard_normal((16,)))
        opt = L.optim.Adam(q.parameters(), lr=1e-3)
        out: list = []
        for _ in range(3):
            with L.no_grad():
                noise = (L.randn_like(a) * 0.2).clamp(-0.5, 0.5)
                next_a = (actor_t(s2) + noise).clamp(-1.0, 1.0)
                y = r + 0.99 * q_t(L.cat([s2, next_a], 1))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loss = F.mse_loss(q(L.cat([s, a], 1)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            for p, tp in zip(q.parameters(), q_t.parameters()):
                tp.data.copy_(0.005 * p.data + (1 - 0.005) * tp.data)
            out += [noise, next_a, y, loss, [str(w.message) for w in caught]]
        return out + list(q_t.parameters())

    same_as_torch(program)


# ---------------------------------------------------------------- TRPO, action masks, epsilon-greedy


def test_trpo_conjugate_gradient_with_fisher_vector_products() -> None:
    """TRPO: a KL's gradient with ``create_graph=True``, Fisher-vector products by a second ``autograd.grad``,
    five conjugate-gradient steps and ``vector_to_parameters``: torch's step and new parameters."""

    def program(L: Any) -> list:
        nn = L.nn
        pol = _load(L, nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)))
        rng = np.random.default_rng(1)
        s = L.Tensor(rng.standard_normal((10, 3)))
        a, adv = L.tensor(rng.integers(0, 2, 10)), L.Tensor(rng.standard_normal(10))
        with L.no_grad():
            old = L.distributions.Categorical(logits=pol(s))

        def surrogate() -> Any:
            d = L.distributions.Categorical(logits=pol(s))
            return (L.exp(d.log_prob(a) - old.log_prob(a)) * adv).mean()

        def kl() -> Any:
            return L.distributions.kl_divergence(old, L.distributions.Categorical(logits=pol(s))).mean()

        def fvp(v: Any) -> Any:
            g = L.cat([x.reshape(-1) for x in L.autograd.grad(kl(), pol.parameters(), create_graph=True)])
            h = L.autograd.grad((g * v).sum(), pol.parameters())
            return L.cat([x.contiguous().view(-1) for x in h]).data + 0.1 * v

        g = L.cat([x.view(-1) for x in L.autograd.grad(surrogate(), pol.parameters())])
        x, r, p = L.zeros_like(g), g.clone(), g.clone()
        rr = L.dot(r, r)
        for _ in range(5):
            Ap = fvp(p)
            alpha = rr / L.dot(p, Ap)
            x += alpha * p
            r -= alpha * Ap
            new_rr = L.dot(r, r)
            p = r + new_rr / rr * p
            rr = new_rr
        shs = 0.5 * (x * fvp(x)).sum(0, keepdim=True)
        step = x / L.sqrt(shs / 0.01)[0]
        L.nn.utils.vector_to_parameters(
            L.nn.utils.parameters_to_vector(pol.parameters()) + 0.5 * step, pol.parameters()
        )
        return [g, x, step, L.nn.utils.parameters_to_vector(pol.parameters()), kl(), surrogate()]

    same_as_torch(program, rtol=1e-4)


def test_masked_categorical_and_epsilon_greedy() -> None:
    """Invalid actions masked with ``-inf`` (``masked_fill``) or a large negative (``where``): finite entropies
    and torch's gradients; epsilon-greedy with ``rand(1).item()``/``randint`` and ``multinomial`` draws."""

    def program(L: Any) -> list:
        logits = L.Tensor(np.random.default_rng(1).standard_normal((3, 4))).requires_grad_()
        mask = L.tensor([[True, True, False, True], [True, False, False, False], [True, True, True, True]])
        d = L.distributions.Categorical(logits=logits.masked_fill(~mask, float("-inf")))
        entropy, logp = d.entropy(), d.log_prob(L.tensor([0, 0, 2]))
        (entropy.sum() + logp.sum()).backward()
        d2 = L.distributions.Categorical(logits=L.where(mask, logits, L.tensor(-1e8)))
        L.manual_seed(0)
        q, picks = L.Tensor(np.random.default_rng(0).standard_normal((5, 3))), []
        for t in range(10):
            picks.append(L.randint(0, 3, (1,)).item() if L.rand(1).item() < 0.3 else q[t % 5].argmax().item())
        explore = L.rand(5) < 0.5
        batch = L.where(explore, L.randint(0, 3, (5,)), q.argmax(dim=1))
        return [entropy, logp, logits.grad, d.probs, d2.entropy(), picks, batch, L.multinomial(q.softmax(1), 1)]

    same_as_torch(program)


# ---------------------------------------------------------------- the slips and the legacy constructor


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.Tensor(np.zeros((2, 3))),  # a gym observation: float64
        lambda L: L.Tensor(np.array([True, False])),  # a vector env's dones
        lambda L: L.Tensor(np.array([1, 2, 3])),  # actions
        lambda L: L.Tensor(np.zeros((), np.float16)),
        lambda L: L.Tensor(np.zeros(0)),
        lambda L: L.Tensor(range(3)),
        lambda L: L.Tensor(np.array([1, 2]), device="cpu"),
    ],
    ids=["float64_obs", "bool_dones", "int_actions", "float16_0d", "empty", "range", "device"],
)
def test_legacy_tensor_constructor_makes_the_default_dtype(make: Any) -> None:
    ours, theirs = make(bp), make(torch)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.") == "float32"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_legacy_tensor_constructor_shares_a_float32_array_and_refuses_numbers() -> None:
    """``Tensor(a)`` of a float32 array shares its memory (as ``from_numpy``), of a float64 one copies;
    a lone number is torch's TypeError; a NumPy integer is a size, as a Python int."""
    for L in (bp, torch):
        a32, a64 = np.zeros(2, np.float32), np.zeros(2)
        L.Tensor(a32).add_(1)
        L.Tensor(a64).add_(1)
        assert a32.tolist() == [1.0, 1.0] and a64.tolist() == [0.0, 0.0]
        assert L.Tensor(np.int64(3)).shape == (3,)
    for bad in (2.0, True, np.float64(1.0)):
        with pytest.raises(TypeError) as theirs:
            torch.Tensor(bad)
        with pytest.raises(TypeError) as ours:
            bp.Tensor(bad)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="^At least one stride in the given numpy array is negative"):
        bp.Tensor(np.zeros(3)[::-1])


def test_linear_takes_legacy_tensor_of_a_float64_observation() -> None:
    """The CleanRL line ``agent(torch.Tensor(obs))``: a float32 tensor, so the float32 ``Linear`` runs."""

    def program(L: Any) -> list:
        layer = _load(L, L.nn.Linear(4, 2))
        obs = np.random.default_rng(0).standard_normal((3, 4))
        return [layer(L.Tensor(obs)), 1.0 - L.Tensor(obs[:, 0] > 0)]

    same_as_torch(program)


_GRAPH_SLIP = """
import warnings
import {lib} as torch
warnings.simplefilter("always")
log_probs = [torch.tensor(0.5, requires_grad=True) * 2 for _ in range(3)]
for make in (lambda: torch.tensor([[1.0, 2.0], torch.ones(2, requires_grad=True)]),
             lambda: torch.tensor([log_probs[0].detach()]),
             lambda: torch.tensor(log_probs),
             lambda: torch.tensor(log_probs),
             lambda: float(log_probs[0])):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = make()
    print([str(w.message).split(" (Triggered")[0] for w in caught], t.requires_grad if hasattr(t, "shape") else t)
"""


def test_tensor_of_a_list_of_log_probs_warns_as_torch() -> None:
    """``torch.tensor(log_probs)`` silently drops the graph; torch warns once per process (the warning
    ``float(t)`` also gives), not for detached tensors or tensors read as rows: a fresh process per library."""
    ours, theirs = (
        subprocess.run([sys.executable, "-c", _GRAPH_SLIP.format(lib=lib)], capture_output=True, text=True, check=True)
        for lib in ("backprop", "torch")
    )
    assert ours.stdout == theirs.stdout
    assert ours.stdout.count("Converting a tensor with requires_grad=True to a scalar") == 1
