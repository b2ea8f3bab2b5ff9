"""`make soak`: radio, N simulated earbuds and `earpiece run` as processes for a scripted day with faults injected
on a seeded schedule; checks that nothing was lost and every question was answered (bench/soak/run.py)."""
