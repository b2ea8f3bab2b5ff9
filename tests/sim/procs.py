"""The simulator's process launcher, shared with the demo and the benchmarks (see host/simulator.py)."""

from host.simulator import EarbudProcess, RadioProcess, SimProcess, start_earbud, start_radio

__all__ = ["EarbudProcess", "RadioProcess", "SimProcess", "start_earbud", "start_radio"]
