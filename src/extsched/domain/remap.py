"""Remap planning for a version update (SPEC §6), pure.

Every schedule of the install is matched to the target version's endpoint with the same method
(case-insensitive) and normalized path. A schedule whose endpoint row is gone has nothing to match
by, so it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from extsched.domain.endpoints import normalize_method, normalize_path


@dataclass(frozen=True)
class ScheduleRef:
    schedule_id: str
    name: str | None
    endpoint_id: str
    method: str | None  # None: the endpoint row no longer exists
    path: str | None


@dataclass(frozen=True)
class TargetEndpoint:
    id: str | None  # None only when the target's rows are not materialized (preview of legacy data)
    method: str
    path: str


@dataclass(frozen=True)
class Remapped:
    schedule: ScheduleRef
    to_endpoint_id: str | None


@dataclass(frozen=True)
class RemapPlan:
    remapped: list[Remapped]
    missing: list[ScheduleRef]

    @property
    def blocked(self) -> bool:
        return bool(self.missing)


def plan_remap(schedules: list[ScheduleRef], target: list[TargetEndpoint]) -> RemapPlan:
    by_key = {(normalize_method(t.method), normalize_path(t.path)): t for t in target}
    remapped: list[Remapped] = []
    missing: list[ScheduleRef] = []
    for s in schedules:
        found = None
        if s.method is not None and s.path is not None:
            found = by_key.get((normalize_method(s.method), normalize_path(s.path)))
        if found is None:
            missing.append(s)
        else:
            remapped.append(Remapped(s, found.id))
    return RemapPlan(remapped, missing)
