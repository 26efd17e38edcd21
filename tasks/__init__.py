"""Sparse-reward tasks as Brax environments, policies and batched rollouts.

    import tasks
    task = tasks.make("hardmaze")
    genomes = task.default_policy().init_genomes(key, 200)
    evaluation = tasks.rollout(task, genomes, key)

A QDax scoring function becomes an evaluator with `tasks.from_scoring_function`.
"""
from tasks.adapters.scoring import from_scoring_function
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
    "from_scoring_function",
    "make",
    "make_config",
    "names",
    "register",
    "rollout",
]
