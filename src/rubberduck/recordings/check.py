"""`rubberduck recordings check`: every file of a recordings directory, read as a replay would read it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rubberduck.recordings.files import (
    DEFAULT_DIR,
    RecordingError,
    document_to_entry,
    key_problem,
    read_document,
    recording_files,
)


@dataclass(slots=True)
class CheckReport:
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (provider, namespace) -> good files
    problems: list[tuple[Path, str]] = field(default_factory=list)  # (file, reason)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [
            f"{provider} {namespace or '(default)'}: {count} recording{'s' if count != 1 else ''}"
            for (provider, namespace), count in sorted(self.counts.items())
        ]
        total = sum(self.counts.values())
        out.append(f"{total} good, {len(self.problems)} bad")
        return out


def check_directory(root: Path) -> CheckReport:
    """Schema, key (recomputed from the canonical request, namespace and ignore paths), place and uniqueness."""
    report = CheckReport()
    seen: dict[tuple[str, str, int], Path] = {}
    for path in recording_files(root):
        try:
            document = read_document(path)
            entry = document_to_entry(document)
        except (RecordingError, OSError) as exc:
            report.problems.append((path, str(exc)))
            continue
        provider = str(document["provider"])
        relative = path.relative_to(root)
        folder = relative.parts[0] if len(relative.parts) > 1 else None
        reason = key_problem(entry)
        if reason is None and folder != (entry.namespace or DEFAULT_DIR):
            expected = entry.namespace or DEFAULT_DIR
            reason = f"namespace: {entry.namespace!r} belongs in {expected}/, not in {folder or '.'}/"
        slot = (provider, entry.key, entry.occurrence)
        if reason is None and slot in seen:
            reason = f"the same recording as {seen[slot]}"
        if reason is not None:
            report.problems.append((path, reason))
            continue
        seen[slot] = path
        report.counts[(provider, entry.namespace)] += 1
    return report
