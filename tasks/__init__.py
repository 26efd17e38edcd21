"""Sparse-reward tasks as Brax environments, policies and batched rollouts.

    import tasks
    task = tasks.make("hardmaze")
    genomes = task.default_policy().init_genomes(key, 200)
    evaluation = tasks.rollout(task, genomes, key)
"""
from tasks.base import SparseRewardTask
from tasks.evaluation import Evaluation
from tasks.policies import MLPPolicy, Policy, ReferenceController
from tasks.registry import make, make_config, names, register
from tasks.rollout import rollout
from tasks.spec import RewardArea, TaskSpec

__all__ = [
    "Evaluation",
    "MLPPolicy",
    "Policy",
    "ReferenceController",
    "RewardArea",
    "SparseRewardTask",
    "TaskSpec",
    "make",
    "make_config",
    "names",
    "register",
    "rollout",
]
