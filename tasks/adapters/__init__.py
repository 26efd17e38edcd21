"""Tasks from other libraries behind our task contract.

- `tasks.adapters.kheperax`: Kheperax's mazes (Grillotti et al. 2023) as
  registered tasks (`tasks.make("kheperax_standard")`), driven by Kheperax's
  own simulator; needs the optional extra: ``pip install 'divergent[kheperax]'``.
- `tasks.adapters.scoring`: any QDax-style scoring function
  ``scoring_fn(genotypes, key) -> (fitnesses, descriptors, extra_scores)`` as
  an evaluator every algorithm accepts (`tasks.from_scoring_function`).
"""
