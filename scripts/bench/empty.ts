// Intentionally empty: the startup baseline, compiled with the same flags as dist/sublease.
