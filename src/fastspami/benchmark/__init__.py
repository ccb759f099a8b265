"""The benchmark's logic behind the workflow's rules: each job (simulate, integrate,
cluster, score, cost), the statistics, the report's tables, SpaMI's diagnosis, and the
speed and memory harness of ``spami bench``."""
