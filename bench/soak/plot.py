"""bench/soak.png: the soak over time — the bridge's RSS and CPU, frames dropped in quiet, turns answered, reconnect
times — with the injected faults marked."""

from __future__ import annotations

from pathlib import Path


def plot(path: Path, start: float, slow: list[dict], samples: list[dict], answers: list[float],
         reconnect_points: list[tuple[float, float]], faults: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = lambda t: (t - start) / 60  # noqa: E731
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    rows = [row for row in slow if row["rss"]]
    for pid in dict.fromkeys(r["pid"] for r in rows):  # one line per bridge process (a restart is a new one)
        mine = [r for r in rows if r["pid"] == pid]
        axes[0].plot([minutes(r["t"]) for r in mine], [r["rss"] / 2**20 for r in mine], lw=1, color="tab:blue")
    axes[0].set_ylabel("bridge RSS (MB)")
    cpu = []
    for a, b in zip(rows, rows[1:]):
        if a["pid"] == b["pid"] and a["cpu_s"] is not None and b["cpu_s"] is not None and b["t"] > a["t"]:
            cpu.append((minutes(b["t"]), 100 * (b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"])))
    axes[1].plot([c[0] for c in cpu], [c[1] for c in cpu], lw=0.6, color="tab:orange")
    axes[1].set_ylabel("bridge CPU (%)")
    dropped = [(minutes(s["t"]), sum(d["frames_dropped_quiet"] or 0 for d in s["devices"].values()))
               for s in samples if s["devices"]]
    axes[2].plot([d[0] for d in dropped], [d[1] for d in dropped], lw=1, color="tab:gray", label="dropped in quiet")
    twin = axes[2].twinx()
    twin.step([minutes(t) for t in answers], range(1, len(answers) + 1), where="post", color="tab:green",
              label="turns answered")
    axes[2].set_ylabel("frames dropped\n(quiet, this bridge)")
    twin.set_ylabel("turns answered")
    axes[3].scatter([minutes(t) for t, _ in reconnect_points], [s for _, s in reconnect_points], s=12)
    axes[3].axhline(2.0, color="tab:red", lw=0.8, ls="--")
    axes[3].set_ylabel("reconnect (s)")
    axes[3].set_xlabel("minutes")
    for fault in faults:
        for w0, _w1 in fault.get("windows", []):
            for axis in axes:
                axis.axvline(minutes(w0), color="tab:red", alpha=0.25, lw=1)
            axes[0].annotate(fault["kind"], (minutes(w0), 0), xycoords=("data", "axes fraction"), rotation=90,
                             fontsize=6, va="bottom")
            break
    fig.suptitle("earpiece soak: the bridge over time (red lines: injected faults)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
