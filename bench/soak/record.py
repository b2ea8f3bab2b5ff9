"""The soak's own record of what was stored (memories, bonds, the paired earbuds, settings), to compare at the end:
nothing lost or corrupted."""

from __future__ import annotations

import json


class Record:
    def __init__(self, rig) -> None:
        self.rig = rig
        self.facts: dict[int, str] = {}  # id -> text, every fact seen stored and not forgotten by us
        self.forgotten: set[int] = set()
        self.bonds = None
        self.devices = None
        self.config = b""
        self.problems: list[str] = []

    def _json(self, *args: str) -> dict | None:
        result = self.rig.cli(*args, "--json")
        if result.returncode != 0:
            self.problems.append(f"earpiece {' '.join(args)} failed: {result.stderr.strip()[-200:]}")
            return None
        return json.loads(result.stdout)

    def _devices(self) -> list | None:
        listed = self._json("devices")
        return None if listed is None else sorted((d["name"], d["address"]) for d in listed.get("devices", []))

    def take_start(self) -> None:
        self.bonds = json.loads((self.rig.data_dir() / "bonds.json").read_text())
        self.config = (self.rig.home / "config" / "config.toml").read_bytes()
        self.devices = self._devices()

    def note_facts(self) -> list[dict]:
        listed = self._json("memory", "list")
        facts = [] if listed is None else listed.get("facts", [])
        for fact in facts:
            if fact["id"] not in self.forgotten:
                self.facts.setdefault(fact["id"], fact["text"])
        return facts

    def forget_one(self) -> int | None:
        facts = [f for f in self.note_facts() if f["id"] not in self.forgotten]
        if not facts:
            return None
        fact_id = facts[0]["id"]
        if self.rig.cli("memory", "forget", str(fact_id)).returncode == 0:
            self.forgotten.add(fact_id)
            self.facts.pop(fact_id, None)
            return fact_id
        return None

    def compare_end(self) -> dict:
        """Everything recorded, still there and the same: (lost or changed items, the figures)."""
        lost = []
        now = {f["id"]: f["text"] for f in self.note_facts()}
        for fact_id, text in self.facts.items():
            if now.get(fact_id) != text:
                lost.append(f"memory {fact_id} {text!r}: now {now.get(fact_id)!r}")
        for fact_id in self.forgotten:
            if fact_id in now:
                lost.append(f"memory {fact_id} came back after it was forgotten")
        try:
            bonds = json.loads((self.rig.data_dir() / "bonds.json").read_text())
        except (OSError, ValueError) as error:
            bonds = f"unreadable: {error}"
        if bonds != self.bonds:
            lost.append("bonds.json differs from the start")
        if (self.rig.home / "config" / "config.toml").read_bytes() != self.config:
            lost.append("config.toml differs from the start")
        devices = self._devices()
        if devices != self.devices:
            lost.append(f"paired earbuds were {self.devices}, now {devices}")
        return {"data_lost": len(lost), "lost": lost, "facts_kept": len(self.facts), "facts_forgotten":
                len(self.forgotten), "tool_problems": self.problems[-5:], "ok": not lost}
