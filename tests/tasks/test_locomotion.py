"""The QD-RL locomotion tasks. One compiled program (ant_uni) holds our
rollout and an independent step-by-step recording of the same episodes, from
which descriptors and returns are recomputed; ant_omni's own reward and
descriptor are checked on the recorded states (same ant physics) without a
compile, and its full rollout is a `slow` test."""
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from brax import math as brax_math

import tasks
from tasks import locomotion
from tasks.rollout import _episode_keys, evaluate

EPISODE = 20


def _record(task, policy, genomes, key):
    """Per-step facts of each genome's episode, read off the pipeline state
    directly: done flag, free-joint (x, y), foot-sphere bottoms' heights and
    Brax's reward terms."""
    sys = task._env.sys
    spheres = [
        g for g in range(sys.ngeom)
        if sys.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE and sys.geom_bodyid[g] - 1 in set(task._feet.tolist())
    ]
    links = jnp.asarray([sys.geom_bodyid[g] - 1 for g in spheres], jnp.int32)  # none for omni tasks
    offsets = jnp.asarray(np.asarray(sys.geom_pos)[spheres]).reshape(-1, 3)
    radii = jnp.asarray(np.asarray(sys.geom_size)[spheres, 0])

    def one(genome, k):
        state = task.reset(k)

        def body(state, _):
            state = task.step(state, policy.apply(genome, state.obs))
            ps = state.pipeline_state.env.pipeline_state
            centres = ps.x.pos[links] + jax.vmap(brax_math.rotate)(offsets, ps.x.rot[links])
            m = state.pipeline_state.env.metrics
            return state, dict(
                done=state.done, xy=ps.q[:2], bottom=centres[:, 2] - radii,
                forward=m["reward_forward"], survive=m["reward_survive"], ctrl=m["reward_ctrl"],
            )

        final, facts = jax.lax.scan(body, state, None, EPISODE)
        return facts, final.pipeline_state

    return jax.vmap(one)(genomes, _episode_keys(key, jnp.arange(genomes.shape[0])))


def _run(name):
    task = tasks.make(name, episode_length=EPISODE, trajectory_points=5)
    policy = task.default_policy()
    genomes = policy.init_genomes(jax.random.PRNGKey(0), 3).at[2, 5].set(jnp.nan)
    key = jax.random.PRNGKey(7)
    both = jax.jit(lambda g, k: (evaluate(task, policy, g, k), _record(task, policy, g, k)))
    ev, (rec, final) = both(genomes, key)
    again, _ = both(genomes, key)
    return task, ev, again, jax.tree.map(np.asarray, rec), final


def _taken(rec):
    """[B, T] mask of the steps taken: up to and including the first done."""
    done = rec["done"] > 0
    return np.concatenate([np.ones_like(done[:, :1]), ~done[:, :-1]], axis=1).cumprod(axis=1).astype(bool)


@pytest.fixture(scope="module")
def ant_uni_run():
    return _run("ant_uni")


@pytest.fixture(scope="module")
def ant_uni(ant_uni_run):
    return ant_uni_run[:4]


@pytest.fixture(scope="module")
def ant_omni():
    return _run("ant_omni")[:4]


FAMILY = {
    "ant_omni": (2, 250), "humanoid_omni": (2, 250), "ant_uni": (4, 1000),
    "walker2d_uni": (2, 1000), "halfcheetah_uni": (2, 1000), "hopper_uni": (1, 1000),
}


def _check_spec(name, task):
    dims, length = FAMILY[name]
    spec = task.spec
    assert spec.descriptor_size == dims and spec.episode_length == length, name
    assert spec.dense_reward and spec.reward_areas == ()
    if name.endswith("_omni"):
        assert spec.descriptor_low == (-30.0, -30.0) and spec.descriptor_high == (30.0, 30.0)
    else:
        assert spec.descriptor_low == (0.0,) * dims and spec.descriptor_high == (1.0,) * dims
        assert len(set(task._feet.tolist())) == dims  # every foot found, none twice


@pytest.fixture(scope="module")
def omni_task():
    return tasks.make("ant_omni")


def test_ant_specs_match_qdax(omni_task):
    _check_spec("ant_omni", omni_task)
    _check_spec("ant_uni", tasks.make("ant_uni"))
    policy = omni_task.default_policy()
    assert policy.genome_size == 27 * 64 + 64 + 64 * 64 + 64 + 64 * 8 + 8  # QDax's 64-64 MLP
    assert (policy.activation, policy.kernel_init) == ("relu", "lecun_uniform")


@pytest.mark.slow
def test_every_family_spec_matches_qdax_and_finds_its_feet():
    # Builds six Brax environments (humanoid's alone takes seconds).
    for name in FAMILY:
        _check_spec(name, tasks.make(name))


@pytest.mark.parametrize("run", ["ant_uni", pytest.param("ant_omni", marks=pytest.mark.slow)])
def test_rollout_is_deterministic_and_flags_nan_policies(run, request):
    task, ev, again, _ = request.getfixturevalue(run)
    for a, b in zip(jax.tree.leaves(ev), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)
    assert ev.valid.tolist() == [True, True, False]
    np.testing.assert_array_equal(ev.descriptor[2], task.spec.descriptor_low)
    assert ev.reward[2] == 0.0 and ev.reward_area.tolist() == [-1, -1, -1]
    low, high = np.asarray(task.spec.descriptor_low), np.asarray(task.spec.descriptor_high)
    assert np.all((ev.descriptor >= low) & (ev.descriptor <= high))


def test_uni_descriptor_is_the_feet_contact_fraction(ant_uni):
    _, ev, _, rec = ant_uni
    taken = _taken(rec)[:2]
    touching = rec["bottom"][:2] <= 1e-6  # [B, T, feet]: the foot sphere reaches the floor
    expected = (touching & taken[..., None]).sum(1) / taken.sum(1, keepdims=True)
    # A sphere resting exactly on the floor may round either way: one step of slack.
    np.testing.assert_allclose(ev.descriptor[:2], expected, atol=1.01 / EPISODE)
    assert np.any(expected > 0)  # a standing ant touches the ground


def test_uni_return_is_brax_reward_with_forward_progress(ant_uni):
    _, ev, _, rec = ant_uni
    taken = _taken(rec)[:2]
    terms = rec["forward"][:2] + rec["survive"][:2] + rec["ctrl"][:2]
    np.testing.assert_allclose(ev.reward[:2], (terms * taken).sum(1), rtol=1e-4, atol=1e-4)


def test_omni_reward_drops_the_forward_term_and_descriptor_clips_the_position(ant_uni_run, omni_task):
    _, _, _, _, final = ant_uni_run  # LocomotionState after EPISODE steps, batched
    omni = omni_task
    m = final.env.metrics
    reward = jax.vmap(lambda s: omni.step_reward(None, s, None))(final)
    np.testing.assert_allclose(reward, m["reward_survive"] + m["reward_ctrl"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(reward[:2], final.env.reward[:2])  # the ant moved: the forward term is not 0
    xy = final.env.pipeline_state.q[:, :2]
    np.testing.assert_allclose(jax.vmap(omni.descriptor)(final)[:2], np.clip(xy[:2], -30, 30), atol=1e-4)
    far = final.replace(env=final.env.replace(pipeline_state=final.env.pipeline_state.replace(
        x=final.env.pipeline_state.x.replace(pos=final.env.pipeline_state.x.pos.at[:, 0, :2].set(100.0)))))
    np.testing.assert_array_equal(jax.vmap(omni.descriptor)(far), np.full((3, 2), 30.0, np.float32))


@pytest.mark.slow
def test_omni_descriptor_is_the_final_position_and_return_has_no_forward_term(ant_omni):
    _, ev, _, rec = ant_omni
    taken = _taken(rec)[:2]
    last = taken.sum(1) - 1
    final = rec["xy"][np.arange(2), last]
    np.testing.assert_allclose(ev.descriptor[:2], np.clip(final, -30, 30), atol=1e-4)
    terms = rec["survive"][:2] + rec["ctrl"][:2]
    np.testing.assert_allclose(ev.reward[:2], (terms * taken).sum(1), rtol=1e-4, atol=1e-4)


def test_feet_links_take_repeated_names_in_order_and_name_missing_ones():
    assert locomotion.feet_links(["torso", "a", "", "b", ""], ("", "")).tolist() == [2, 4]
    with pytest.raises(ValueError, match="no link 'paw' left"):
        locomotion.feet_links(["torso"], ("paw",))
