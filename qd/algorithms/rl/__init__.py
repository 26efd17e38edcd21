"""Gradient RL as alternative optimisers: PPO (`ppo`), SAC (`sac`) and SAC
seeded with an exploration run's archive (`sac-seeded`). `episodes` runs
synchronised training episodes; `common` holds the episode archive."""
