"""One soak: start the rig, play the scripted day with its faults, then check everything and write the report."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.soak import checks, faults
from bench.soak.observe import Observer
from bench.soak.plot import plot
from bench.soak.record import Record
from bench.soak.rig import Rig
from bench.soak.schedule import ROLES, Event, cut_interval_s, plan

QUIET_HOLD_S = 20.0
VOICE_QUIET_HOLD_S = 8.0


class Soak:
    def __init__(self, minutes: float, earbuds: int, seed: int, models_root: Path, workdir: Path,
                 progress=print) -> None:
        self.minutes, self.seed = minutes, seed
        self.rig = Rig(workdir, earbuds, models_root, cut_interval_s(seed), seed)
        self.observer = Observer(self.rig)
        self.record = Record(self.rig)
        self.progress = progress
        self.faults: list[dict] = []
        self.actions: Counter = Counter()
        self.noted_reminders: list[dict] = []
        roles = [ROLES[i % len(ROLES)].name for i in range(earbuds)]
        self.quiet_earbud = roles.index("quiet") if "quiet" in roles else earbuds - 1
        self.start = self.end = 0.0

    def note_reminders_before_kill(self, pending: list[dict]) -> None:
        self.noted_reminders += pending

    def run(self) -> dict:
        self.progress(f"soak: starting radio, {self.rig.count} earbuds and the bridge in {self.rig.workdir}")
        try:
            self.rig.start()
            self.observer.start()
            if faults._wait_all_connected(self) is None:
                raise RuntimeError("the bridge did not connect every earbud within 60 s:\n"
                                   + self.rig.bridge.text()[-2000:])
            self.record.take_start()
            self.start = time.time()
            self._play(plan(self.minutes, self.rig.count, self.seed))
            self.end = time.time()
            self.noted_reminders += faults.pending_reminders(self)  # the end: those due by now must have rung
            data = self.record.compare_end()
        finally:
            self.observer.stop()
            self.rig.stop()
        return self._report(data)

    def _play(self, events: list[Event]) -> None:
        pending = list(events)
        deadline = self.start + self.minutes * 60.0
        while time.time() < deadline:
            now = time.time() - self.start
            due = [e for e in pending if e.at_s <= now]
            if due:  # one at a time: faults can take longer than planned, and the end is the end
                event = min(due, key=lambda e: e.at_s)
                pending.remove(event)
                if event.kind in faults.FAULTS and deadline - time.time() < 40.0:
                    self.progress(f"soak: {event.kind} left out: under 40 s to go")
                    continue
                self._do(event, pending)
            self._release_voice_quiet(pending)
            time.sleep(0.5)

    def _do(self, event: Event, pending: list[Event]) -> None:
        later = lambda kind: pending.append(Event(time.time() - self.start + QUIET_HOLD_S, kind, event.earbud))  # noqa
        name = self.rig.names[event.earbud % self.rig.count]
        self.progress(f"soak {time.time() - self.start:6.0f} s: {event.kind} {name if 'quiet' in event.kind else ''}")
        if event.kind in faults.FAULTS:
            try:
                record = faults.FAULTS[event.kind](self, event)
            except Exception as error:  # noqa: BLE001 — a fault that could not be injected is a failed fault
                record = {"kind": event.kind, "windows": [(time.time() - 1, time.time())], "ok": False,
                          "detail": f"injecting it failed: {error!r}"}
            record["at_s"] = round(event.at_s, 1)
            self.faults.append(record)
            self.progress(f"    -> {'ok' if record['ok'] else 'FAILED'}: {record.get('detail') or record.get('skipped')}"
                          f" (back in {record.get('recovery_s') or 0:.1f} s)")
        elif event.kind == "quiet_switch":
            self.rig.earbuds[event.earbud].send("quiet on")
            later("quiet_switch_off")
        elif event.kind == "quiet_switch_off":
            self.rig.earbuds[event.earbud].send("quiet off")
        elif event.kind == "quiet_cli":
            self.rig.cli("quiet", "on", name, "--json")
            later("quiet_cli_off")
        elif event.kind == "quiet_cli_off":
            self.rig.cli("quiet", "off", name, "--json")
        elif event.kind == "forget_memory":
            self.record.forget_one()
        self.actions[event.kind] += 1

    def _release_voice_quiet(self, pending: list[Event]) -> None:
        """The quiet earbud's mic says "go quiet" once a loop: a few seconds later the soak turns it back on."""
        status = self.observer.samples[-1]["devices"] if self.observer.samples else None
        name = self.rig.names[self.quiet_earbud]
        device = (status or {}).get(name)
        if device and device["quiet"] and device["quiet_source"] == "voice" and \
                not any(e.kind == "voice_quiet_off" for e in pending):
            self.actions["quiet_voice"] += 1
            pending.append(Event(time.time() - self.start + VOICE_QUIET_HOLD_S, "quiet_cli_off", self.quiet_earbud))
            pending.append(Event(time.time() - self.start + VOICE_QUIET_HOLD_S + 1, "voice_quiet_off", -1))

    def _report(self, data: dict) -> dict:
        logs = self.rig.logs()
        bridge_texts = [text for name, text in logs.items() if name.startswith("bridge-") or "startup-" in name]
        events = checks.log_events(bridge_texts)
        windows = [w for f in self.faults for w in f.get("windows", [])]
        obs = self.observer
        results = {
            "questions": checks.questions(self.rig.loops, self.rig.names, obs.slow, obs.samples, windows, events,
                                          self.start, self.end),
            "quiet": checks.quiet_frames(obs.samples, self.rig.names),
            "reminders": checks.reminders_rung(self.noted_reminders, events, self.end),
            "data": data,
            "reconnects": checks.reconnects(events, self.rig.names, windows),
            "rss": checks.rss_growth(obs.slow, self.start, self.end),
            "wedges": checks.wedges(obs.samples, self.rig.names, windows),
            "tracebacks": checks.tracebacks(logs),
            "faults": {"ok": all(f["ok"] for f in self.faults), "injected": self.faults},
        }
        answered_in = [s["status_s"] for s in obs.samples if s.get("status_s") is not None]
        slow_status = {"status_requests": len(obs.samples), "unanswered_within_2s": sum(
            1 for s in obs.samples if s["devices"] is None and s["pid"] is not None),
            "p95_s": checks.percentile(answered_in, 95)}
        points = results["reconnects"].pop("points")
        injected = Counter(f["kind"] for f in self.faults if not f.get("skipped"))
        injected["link_cut"] = results["reconnects"]["count"]
        answers = [t for t, m in events if " heard: " in m and self.start <= t <= self.end]
        report = {
            "minutes": self.minutes, "earbuds": self.rig.count, "seed": self.seed,
            "cut_every_s": self.rig.cut_every_s, "verdict": "pass" if all(r["ok"] for r in results.values())
            else "fail", "failed_checks": [k for k, r in results.items() if not r["ok"]],
            "faults_by_kind": dict(injected), "actions": dict(self.actions), "bridge_status": slow_status, **results,
            "reliability": {
                "faults_injected": sum(injected.values()),
                "turns_answered_ratio": results["questions"]["ratio"],
                "reconnect_s_p95": results["reconnects"]["p95_s"],
                "rss_growth_ratio": results["rss"].get("ratio"),
                "data_lost": data["data_lost"],
            },
        }
        report["_plot"] = (obs.slow, obs.samples, answers, points)
        return report


def run_soak(minutes: float, earbuds: int, seed: int, out_json: Path | None, out_png: Path | None,
             progress=print, keep_workdir: bool = False) -> dict:
    from bench.common import install_models

    if seed is None:
        seed = random.randrange(1 << 16)
    workdir = Path(tempfile.mkdtemp(prefix="earpiece-soak-"))
    soak = Soak(minutes, earbuds, seed, install_models(), workdir, progress)
    try:
        report = soak.run()
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    slow, samples, answers, points = report.pop("_plot")
    if keep_workdir:  # what was observed, to look at (or re-check) afterwards
        (workdir / "observed.json").write_text(json.dumps({"slow": slow, "samples": samples, "start": soak.start,
                                                           "end": soak.end, "faults": soak.faults,
                                                           "loops": soak.rig.loops, "names": soak.rig.names,
                                                           "reminders": soak.noted_reminders}))
    if out_png is not None:
        plot(out_png, soak.start, slow, samples, answers, points, soak.faults)
    report["workdir"] = str(workdir) if keep_workdir else None
    if out_json is not None:
        out_json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report
