"""The TAXONS behaviour space: the latent code of a convolutional autoencoder
fed the final top-down view of the episode, with the reconstruction error as
surprise.

Paolo, Laflaquière, Coninx, Doncieux 2020, "Unsupervised Learning and
Exploration of Reachable Outcome Space", ICRA (arXiv:1909.05508), and its use
inside SERENE as STAX (Paolo et al. 2024, Evolutionary Computation 32(3)).

What is stored per policy is its final view as uint8 [64, 64, 3] (12 KiB): the
smallest thing the descriptor can be recomputed from after a refit without
re-running the episode (the render needs the whole physical state, which for
some tasks is larger, and it is not kept by the rollout).

With `frames` = F > 1 the autoencoder sees F views of each episode, rendered
by the rollout after the steps `TaskSpec.frame_steps(F)` (evenly spaced, the
last the final view), stacked as channels: uint8 [64, 64, 3F], frame-major
(channels 3f .. 3f + 2 are frame f, the last three the final view). Channels
keep one encoder pass per policy, and the first convolution mixes time from
the start; the network is the same but for its input and output channels.
The frames are rendered in the rollout and stored as pixels, not re-rendered
from a stored state at each re-encode: the state that renders a view is
task-specific (curling's needs the arm's joint angles, which the trajectory
does not keep), rendering would have to move into `encode` (which knows no
task), and re-rendering the whole archive at every refit costs more than
storing pixels saves (benchmarks/README.md, "TAXONS frames").

Training runs on device inside the algorithm's jitted step (flax + optax):
the views of every archived policy, a random 20% held out for validation,
Adam at 1e-3 on batches of 128, up to 100 epochs, stopping once the
validation loss has risen 4 epochs in a row (the reference's rule). Epochs
and batches are `lax.while_loop`s over the rows actually filled, so an
archive's empty capacity costs nothing. The weights persist across refits
(each refit fine-tunes); the Adam state starts afresh.

`trained=False` gives the NT control of the paper: random weights, never
refitted.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from representations import register
from representations.base import Representation, check_size
from tasks.evaluation import Evaluation

SIZE = 64
SCHEDULES = ("growing", "every")


def patches(x: jax.Array, kernel: int, stride: int) -> jax.Array:
    """[B, H, W, C] -> [B, H/stride, W/stride, kernel*kernel*C]: the
    SAME-padded patches a convolution of that kernel and stride sees."""
    _, h, w, _ = x.shape
    total = kernel - 1 if stride == 1 else max(kernel - stride, 0)
    lo = total // 2
    x = jnp.pad(x, ((0, 0), (lo, total - lo), (lo, total - lo), (0, 0)))
    ho, wo = h // stride, w // stride
    cols = [x[:, i:i + stride * ho:stride, j:j + stride * wo:stride, :] for i in range(kernel) for j in range(kernel)]
    return jnp.concatenate(cols, axis=-1)


def depth_to_space(x: jax.Array, factor: int = 2) -> jax.Array:
    """[B, H, W, C * f^2] -> [B, H * f, W * f, C] (sub-pixel upsampling; Shi et
    al. 2016, "Real-time single image and video super-resolution using an
    efficient sub-pixel convolutional neural network", CVPR)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, factor, factor, c // factor**2).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * factor, w * factor, c // factor**2)


class PatchConv(nn.Module):
    """A convolution written as patches @ kernel (the same linear map as
    `nn.Conv` with SAME padding; tested equal).

    Why not `nn.Conv`: the refit trains inside the algorithm's jitted step,
    in loops and under `lax.cond`, and there XLA:CPU runs convolutions about
    9x slower than at the top level (jax 0.9.2, 2-core CPU: 5 Adam steps of
    the autoencoder on 128 views took 1.3 s as separate calls, 12.1 s in a
    `fori_loop`; one step under `lax.cond` 2.5 s against 0.27 s). Slices and
    matrix products keep their speed there (5 steps in a loop: 1.0 s).
    """

    features: int
    kernel: int
    stride: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.features)(patches(x, self.kernel, self.stride))


class ConvAutoencoder(nn.Module):
    """64x64xC -> `latent` -> 64x64xC (C = 3 per frame): three stride-2 4x4
    convolutions and a dense layer down; a dense layer and three sub-pixel
    upsamplings (3x3 convolution to 4x the channels, then depth-to-space) up;
    ReLU inside, sigmoid output (views are in [0, 1])."""

    latent: int = 10
    width: int = 16
    channels: int = 3

    def setup(self):
        w = self.width
        self.encoder_convs = [PatchConv(c, 4, 2) for c in (w, 2 * w, 2 * w)]
        self.to_latent = nn.Dense(self.latent)
        self.from_latent = nn.Dense(8 * 8 * 2 * w)
        self.decoder_convs = [PatchConv(4 * c, 3, 1) for c in (2 * w, w)]
        self.to_image = PatchConv(4 * self.channels, 3, 1)

    def encode(self, x):
        for conv in self.encoder_convs:
            x = nn.relu(conv(x))
        return self.to_latent(x.reshape(x.shape[0], -1))

    def decode(self, z):
        x = nn.relu(self.from_latent(z)).reshape(z.shape[0], 8, 8, 2 * self.width)
        for conv in self.decoder_convs:
            x = nn.relu(depth_to_space(conv(x)))
        return nn.sigmoid(depth_to_space(self.to_image(x)))

    def __call__(self, x):
        return self.decode(self.encode(x))


@register
@dataclasses.dataclass(frozen=True)
class Autoencoder(Representation):
    """Latent code of a convolutional autoencoder of the final top-down view (TAXONS)."""

    def __post_init__(self):
        self.spec.frame_steps(self.config.frames)  # frames in [1, episode_length], else a clear error

    name = "autoencoder"
    learned = True
    needs_observation = True
    has_surprise = True

    @dataclasses.dataclass(frozen=True)
    class Config:
        """Autoencoder settings (reference values of TAXONS).

        Attributes:
            latent_size: descriptor dimensions (10).
            width: channels of the first convolution (16; then 2x, 2x).
            trained: False gives the NT control: random weights, never refitted.
            refit_schedule: "growing" (the reference: refit after generations
                or exploration chunks 1, 3, 6, 10, ..., the interval growing
                by one) or "every" (every `refit_every`).
            refit_every: interval of the "every" schedule.
            max_epochs: epochs per refit at most (100).
            patience: stop after this many rising validation losses in a row (4).
            batch_size: training batch (128).
            learning_rate: Adam's (1e-3).
            validation_fraction: rows held out for early stopping (0.2).
            encode_chunk: views encoded at once when recomputing stored
                descriptors (bounds the memory of a re-encode).
            frames: views of each episode the autoencoder sees, at evenly
                spaced times, the last the final view (1: the final view
                only, the reference; see `TaskSpec.frame_steps`), stacked as
                channels. At most the task's episode length.
        """

        latent_size: int = 10
        width: int = 16
        trained: bool = True
        refit_schedule: str = "growing"
        refit_every: int = 10
        max_epochs: int = 100
        patience: int = 4
        batch_size: int = 128
        learning_rate: float = 1e-3
        validation_fraction: float = 0.2
        encode_chunk: int = 512
        frames: int = 1

        def __post_init__(self):
            for name in ("latent_size", "width", "refit_every", "max_epochs", "patience", "batch_size", "encode_chunk"):
                check_size(name, getattr(self, name))
            check_size("frames", self.frames, "views per episode, between 1 and the episode length")
            if self.refit_schedule not in SCHEDULES:
                raise ValueError(f"refit_schedule must be one of {', '.join(SCHEDULES)}, got {self.refit_schedule!r}")
            if not 0.0 < self.validation_fraction < 1.0:
                raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
            if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
                raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")

    @property
    def network(self) -> ConvAutoencoder:
        return ConvAutoencoder(latent=self.config.latent_size, width=self.config.width, channels=3 * self.config.frames)

    @property
    def descriptor_size(self) -> int:
        return self.config.latent_size

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (SIZE, SIZE, 3 * self.config.frames)

    @property
    def feature_dtype(self) -> Any:
        return jnp.uint8

    @property
    def observation_frames(self) -> int:
        return self.config.frames

    @property
    def refit_every(self) -> int:
        return self.config.refit_every if self.config.trained else 0

    @property
    def encode_chunk(self) -> int:
        return self.config.encode_chunk

    def refit_due(self, count: jax.Array) -> jax.Array:
        """Whether a refit is due after `count` generations (or exploration
        chunks): triangular numbers 1, 3, 6, 10, ... for "growing"."""
        count = jnp.asarray(count, jnp.int32)
        if self.config.refit_schedule == "every":
            return (count > 0) & (count % self.config.refit_every == 0)
        # count = n (n + 1) / 2  <=>  8 count + 1 is a perfect square.
        root = jnp.round(jnp.sqrt(8.0 * count.astype(jnp.float32) + 1.0)).astype(jnp.int32)
        return (count > 0) & (root * root == 8 * count + 1)

    def init(self, key: jax.Array) -> Any:
        return self.network.init(key, jnp.zeros((1, *self.feature_shape), jnp.float32))

    def features(self, evaluation: Evaluation) -> jax.Array:
        """[B, 64, 64, 3 * frames] uint8: the episode's views, frame-major
        along the channels (the last three the final view).

        Raises:
            ValueError: the evaluation has no views, or not `frames` of them.
        """
        if evaluation.observation is None:
            raise ValueError("the autoencoder representation needs the rendered views (with_observation=True)")
        return stack_frames(evaluation.observation, self.config.frames)

    def encode(self, params: Any, features: jax.Array) -> jax.Array:
        return self.network.apply(params, _unit(features), method=ConvAutoencoder.encode)

    def surprise(self, params: Any, features: jax.Array) -> jax.Array:
        """[B] mean squared reconstruction error of each view (of all its frames)."""
        x = _unit(features)
        return jnp.mean((self.network.apply(params, x) - x) ** 2, axis=(1, 2, 3))

    def fit(self, params: Any, features: jax.Array, mask: jax.Array, key: jax.Array) -> Any:
        return train(self.network, self.config, params, features, mask, key)[0]


def stack_frames(observation: jax.Array, frames: int) -> jax.Array:
    """Views in [0, 1], [B, 64, 64, 3] (frames = 1) or [B, frames, 64, 64, 3],
    as uint8 [B, 64, 64, 3 * frames], frame f in channels 3f .. 3f + 2.

    Raises:
        ValueError: the views are not of that shape.
    """
    want = (SIZE, SIZE, 3) if frames == 1 else (frames, SIZE, SIZE, 3)
    if tuple(observation.shape[1:]) != want:
        raise ValueError(
            f"the autoencoder with frames={frames} needs views of shape [batch, {', '.join(map(str, want))}], got "
            f"{list(observation.shape)} (build the evaluator with frames={frames})"
        )
    pixels = jnp.round(jnp.clip(observation, 0.0, 1.0) * 255.0).astype(jnp.uint8)
    if frames == 1:
        return pixels
    return jnp.moveaxis(pixels, 1, 3).reshape(pixels.shape[0], SIZE, SIZE, 3 * frames)


def split_frames(views, frames: int):
    """[..., 64, 64, 3 * frames] -> [..., frames, 64, 64, 3] (numpy or jax):
    the inverse of `stack_frames`' channel layout."""
    shape = views.shape[:-3]
    out = views.reshape(*shape, SIZE, SIZE, frames, 3)
    n = len(shape)
    return out.transpose(*range(n), n + 2, n, n + 1, n + 3)


def _unit(features: jax.Array) -> jax.Array:
    return features.astype(jnp.float32) / 255.0


def train(network: ConvAutoencoder, config: Any, params: Any, images: jax.Array, mask: jax.Array, key: jax.Array):
    """Trains `network` on the rows of `images` [N, 64, 64, C] (uint8) where
    `mask` is True, with early stopping on a held-out split.

    Returns:
        (params, validation losses [max_epochs] (NaN after the last epoch),
        epochs run).
    """
    n_rows = images.shape[0]
    b = config.batch_size
    n = jnp.sum(mask, dtype=jnp.int32)
    k_perm, k_epochs = jax.random.split(key)
    # The filled rows, in random order, first; the rest after them.
    order = jnp.argsort(jnp.where(mask, jax.random.uniform(k_perm, (n_rows,)), 2.0))
    n_val = jnp.maximum(jnp.floor(config.validation_fraction * n).astype(jnp.int32), 1)
    n_train = jnp.maximum(n - n_val, 1)
    pad = jnp.concatenate([order, jnp.zeros((b,), order.dtype)])  # so a last partial batch can be sliced
    optimizer = optax.adam(config.learning_rate)

    def batch_loss(p, rows, weight):
        x = _unit(images[rows])
        per_row = jnp.mean((network.apply(p, x) - x) ** 2, axis=(1, 2, 3))
        return jnp.sum(per_row * weight) / jnp.maximum(jnp.sum(weight), 1.0)

    grad = jax.value_and_grad(batch_loss)

    def epoch(p, opt_state, key):
        # Shuffle the training rows within [0, n_train).
        shuffle = jnp.argsort(jnp.where(jnp.arange(n_rows) < n_train, jax.random.uniform(key, (n_rows,)), 2.0))
        train_rows = jnp.concatenate([order[shuffle], jnp.zeros((b,), order.dtype)])

        def step(carry):
            i, p, opt_state = carry
            rows = jax.lax.dynamic_slice(train_rows, (i * b,), (b,))
            weight = (i * b + jnp.arange(b) < n_train).astype(jnp.float32)
            _, g = grad(p, rows, weight)
            updates, opt_state = optimizer.update(g, opt_state, p)
            return i + 1, optax.apply_updates(p, updates), opt_state

        n_batches = (n_train + b - 1) // b
        _, p, opt_state = jax.lax.while_loop(lambda c: c[0] < n_batches, step, (0, p, opt_state))
        return p, opt_state

    def validation(p):
        def body(carry):
            i, total = carry
            start = n_train + i * b
            rows = jax.lax.dynamic_slice(pad, (start,), (b,))
            weight = (i * b + jnp.arange(b) < n_val).astype(jnp.float32)
            return i + 1, total + batch_loss(p, rows, weight) * jnp.sum(weight)

        n_batches = (n_val + b - 1) // b
        _, total = jax.lax.while_loop(lambda c: c[0] < n_batches, body, (0, jnp.float32(0.0)))
        return total / n_val.astype(jnp.float32)

    losses = jnp.full((config.max_epochs,), jnp.nan, jnp.float32)

    def cond(carry):
        e, _, _, _, rising, _ = carry
        return (e < config.max_epochs) & (rising < config.patience)

    def body(carry):
        e, p, opt_state, last, rising, losses = carry
        p, opt_state = epoch(p, opt_state, jax.random.fold_in(k_epochs, e))
        loss = validation(p)
        rising = jnp.where(loss > last, rising + 1, 0)
        return e + 1, p, opt_state, loss, rising, losses.at[e].set(loss)

    start = (0, params, optimizer.init(params), validation(params), 0, losses)
    epochs, params_out, _, _, _, losses = jax.lax.while_loop(cond, body, start)
    # Too few views to train on: keep the weights.
    params_out = jax.tree.map(lambda new, old: jnp.where(n >= 2, new, old), params_out, params)
    return params_out, losses, epochs
