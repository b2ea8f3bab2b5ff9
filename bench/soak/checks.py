"""What must hold after the soak, computed from what it observed: each check returns its figures and `ok`."""

from __future__ import annotations

import re
from datetime import datetime

ANSWER_WINDOW_S = 20.0  # a question's answer (or spoken error) must start within this of its end
FAULT_MARGIN_S = (3.0, 8.0)  # a question this close before/after a fault window does not count
REMINDER_SPEAKS_S = 6.0  # a reminder rung this long before a question began may still be speaking over it
WEDGE_S = 10.0  # audio arriving but not processed this long: a wedged session (issue 16's finding 5)
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ \w+: (.*)$")


def log_events(texts: list[str]) -> list[tuple[float, str]]:
    """(wall time, message) of every timestamped line of the bridge logs."""
    events = []
    for text in texts:
        for line in text.splitlines():
            if match := LOG_LINE.match(line):
                when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                events.append((when, match.group(2)))
    return sorted(events)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[index]


def _overlaps(a0: float, a1: float, windows: list[tuple[float, float]], before: float, after: float) -> bool:
    return any(a0 <= w1 + after and a1 >= w0 - before for w0, w1 in windows)


def _device_samples(samples: list[dict], name: str) -> list[tuple[float, int | None, dict | None]]:
    return [(s["t"], s["pid"], (s["devices"] or {}).get(name) if s["devices"] is not None else None)
            for s in samples]


def questions(loops, names, slow, samples, windows, events, start, end) -> dict:
    """Every question each earbud's mic said while it was connected and not quiet, away from faults, and whether a
    turn for it (an answer or a spoken error) was logged."""
    answers = {name: [t for t, message in events
                      if message.startswith(f"{name} heard: ") or message.startswith(f"{name}: turn failed")]
               for name in names}
    links = {name: [(t, not message.startswith(f"{name} disconnected")) for t, message in events
                    if message.startswith((f"{name} connected (", f"{name} disconnected"))] for name in names}
    # Misses with a logged reason outside the question's control, counted apart (not as asked): a reminder rang in
    # that ear as the question began (the mic is deaf while the earbud speaks: the wearer talked over it), or the
    # wake word was detected and then rejected by its verification ([wake] verify: an accuracy matter, measured by
    # bench listening; listed here so it stays visible).
    rang = {name: [t for t, m in events if m.startswith(f"{name}: reminder ") and " rung" in m] for name in names}
    rejected = {name: [t for t, m in events if m.startswith(f"{name}: wake word ") and " rejected" in m]
                for name in names}
    talked_over, wake_rejected = [], []
    asked, answered, missed = 0, 0, []
    for name, loop in zip(names, loops):
        worlds = sorted({row["earbuds"][name]["mic_started_at"] for row in slow
                         if name in row["earbuds"] and row["earbuds"][name]["mic_started_at"]})
        seen_until = {w: max(row["t"] for row in slow if row["earbuds"].get(name, {}).get("mic_started_at") == w)
                      for w in worlds}
        device = _device_samples(samples, name)
        used: set[float] = set()
        for index, world in enumerate(worlds):
            world_end = min(worlds[index + 1] if index + 1 < len(worlds) else end, seen_until[world] + 1.0)
            base = world
            while base < world_end:
                for offset, length, text in loop["phrases"]:
                    q0, q1 = base + offset, base + offset + length
                    if q1 + 1.0 > world_end or q1 + ANSWER_WINDOW_S > end or q0 < start:
                        continue
                    # Connected by the bridge's own log, and no status around it saying otherwise or quiet (the
                    # bridge's status can be slow to come when it is busy: a missing one is no evidence).
                    if not _connected_throughout(links[name], q0 - 1.0, q1 + 1.0):
                        continue
                    around = [d for t, _pid, d in device if q0 - 2.0 <= t <= q1 + 2.0 and d is not None]
                    if not all(d["connected"] and not d["quiet"] for d in around):
                        continue
                    if _overlaps(q0, q1 + 15.0, windows, *FAULT_MARGIN_S):
                        continue
                    hit = next((t for t in answers[name] if q0 <= t <= q1 + ANSWER_WINDOW_S and t not in used), None)
                    where = {"earbud": name, "at": round(q0 - start, 1), "said": text}
                    if hit is None and any(q0 - REMINDER_SPEAKS_S <= t <= q1 for t in rang[name]):
                        talked_over.append(where)
                        continue
                    if hit is None and any(q0 <= t <= q1 + ANSWER_WINDOW_S for t in rejected[name]):
                        wake_rejected.append(where)
                        continue
                    asked += 1
                    if hit is None:
                        missed.append(where)
                    else:
                        used.add(hit)
                        answered += 1
                base += loop["period_s"]
    ratio = answered / asked if asked else None
    return {"asked": asked, "answered": answered, "ratio": ratio, "missed": missed[:20],
            "talked_over_by_a_reminder": talked_over[:20], "wake_rejected_by_verification": wake_rejected[:20],
            "ok": asked > 0 and answered == asked}


def _connected_throughout(changes: list[tuple[float, bool]], t0: float, t1: float) -> bool:
    """From the (time, connected) changes the bridge logged: connected at t0, and no change until t1."""
    before = [up for t, up in changes if t <= t0]
    return bool(before and before[-1]) and not any(t0 < t <= t1 for t, _up in changes)


def quiet_frames(samples, names) -> dict:
    """Frames the bridge processed between two samples that both found the earbud quiet (must be 0)."""
    processed = 0
    quiet_samples = 0
    for name in names:
        previous = None
        for _t, pid, d in _device_samples(samples, name):
            if d is not None and previous is not None and previous[0] == pid and d["quiet"] and previous[1]["quiet"]:
                processed += max(0, d["frames_processed"] - previous[1]["frames_processed"])
                quiet_samples += 1
            previous = (pid, d) if d is not None else None
    return {"frames_processed_while_quiet": processed, "quiet_samples": quiet_samples, "ok": processed == 0}


def reconnects(events, names, windows) -> dict:
    """Seconds from a link's loss to its return as the bridge logged them ("NAME disconnected" -> "NAME connected
    (..."), for the cuts no injected fault explains (the radio's own supervision timeouts)."""
    durations, points = [], []
    for name in names:
        lost_at = None
        for t, message in events:
            if message.startswith(f"{name} disconnected"):
                lost_at = t
            elif message.startswith(f"{name} connected (") and lost_at is not None:
                if not _overlaps(lost_at, t, windows, 2.0, 2.0):
                    durations.append(t - lost_at)
                    points.append((t, t - lost_at))
                lost_at = None
            elif message.startswith("bridge:") or "loading models" in message:
                lost_at = None
    p95 = percentile(durations, 95)
    return {"count": len(durations), "p50_s": percentile(durations, 50), "p95_s": p95,
            "max_s": max(durations) if durations else None, "ok": p95 is None or p95 <= 2.0, "points": points}


def rss_growth(slow, start, end) -> dict:
    """RSS growth of the bridge that ran last, from minute 5 (or half-way in a shorter run) to the end."""
    last_pid = next((row["pid"] for row in reversed(slow) if row["rss"]), None)
    rows = [row for row in slow if row["pid"] == last_pid and row["rss"]]
    if len(rows) < 2:
        return {"ok": False, "why": "no RSS samples of the last bridge"}
    since = max(rows[0]["t"] + 60.0, start + min(300.0, (end - start) / 2))
    if rows[-1]["t"] - since < 30.0:  # the last bridge started late: from a third of its life (models loaded)
        since = rows[0]["t"] + (rows[-1]["t"] - rows[0]["t"]) / 3
    baseline = next(row for row in rows if row["t"] >= since)
    ratio = rows[-1]["rss"] / baseline["rss"] - 1.0
    return {"rss_start_mb": round(baseline["rss"] / 2**20, 1), "rss_end_mb": round(rows[-1]["rss"] / 2**20, 1),
            "from_s": round(baseline["t"] - start), "ratio": round(ratio, 4), "ok": ratio < 0.10}


def wedges(samples, names, windows) -> dict:
    """Spans where an earbud's audio kept arriving (connected, not quiet) but the bridge processed none of it."""
    found = []
    for name in names:
        frozen = None  # (t, frames_processed, audio_frames_received) when processing last moved
        for t, pid, d in _device_samples(samples, name):
            if d is None:  # no answer this time (a busy bridge): no evidence either way
                continue
            if not d["connected"] or d["quiet"]:
                frozen = None
                continue
            if frozen is None or frozen[3] != pid or d["frames_processed"] != frozen[1]:
                frozen = (t, d["frames_processed"], d["audio_frames_received"], pid)
                continue
            if t - frozen[0] >= WEDGE_S and d["audio_frames_received"] - frozen[2] > 250:
                found.append({"earbud": name, "from": frozen[0], "pid": pid})
                frozen = (t, d["frames_processed"], d["audio_frames_received"], pid)
    return {"wedged": found, "ok": not found}


def reminders_rung(noted: list[dict], events, end) -> dict:
    """Each reminder pending before a bridge or radio kill, and due early enough, rang afterwards."""
    rung = {}
    for t, message in events:
        if match := re.search(r": reminder (\d+) rung", message):
            rung.setdefault(int(match.group(1)), t)
    due, missing, late = 0, [], []
    for reminder in {r["id"]: r for r in noted}.values():
        due_at = datetime.fromisoformat(reminder["due_at"]).timestamp()
        if due_at > end - 40.0:
            continue
        due += 1
        if reminder["id"] not in rung:
            missing.append(reminder["id"])
        else:
            late.append(rung[reminder["id"]] - due_at)
    return {"due": due, "rung": due - len(missing), "missing": missing,
            "max_late_s": round(max(late), 1) if late else None, "ok": not missing}


UNHANDLED = ("Task exception was never retrieved", "Exception in callback", "Unhandled exception",
             "Exception ignored in")


def tracebacks(logs: dict[str, str]) -> dict:
    """Unhandled exceptions (asyncio's reports, a thread's or the process's own death) fail the check; a traceback
    that our code or Bumble logged on purpose beside a warning is counted and listed, not failed."""
    unhandled, logged = [], []
    for name, text in sorted(logs.items()):
        lines = text.splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("Traceback"):
                continue
            context = " ".join(lines[max(0, index - 2):index])
            last = next((l for l in reversed(lines[index:index + 80]) if l and not l.startswith(" ")), line)
            what = f"{name}: {(context[-160:] or last[:160]).strip()}"
            if any(marker in context for marker in UNHANDLED) or not LOG_LINE.match(lines[index - 1] if index else ""):
                if not any(l.startswith("The above exception") for l in lines[max(0, index - 2):index]):
                    unhandled.append(what)
            else:
                logged.append(what)
    return {"unhandled": unhandled[:20], "unhandled_count": len(unhandled),
            "logged_with_traceback": sorted(set(logged))[:20], "logged_count": len(logged), "ok": not unhandled}
