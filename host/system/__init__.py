"""The whole system on one computer: the simulator's processes, the harness that joins them to a bridge, the demos."""
