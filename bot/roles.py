"""Role names and who counts as an official."""

from __future__ import annotations

__all__ = ["INVITABLE_ROLES", "OFFICIAL_ROLES", "ROLES"]

HOUSEHOLD = "household"
VILLAGE_HEAD = "village_head"
OFFICIAL_ROLES = frozenset(
    {"village_head", "commune_official", "district_official", "province_official", "admin"}
)
ROLES = frozenset({HOUSEHOLD, *OFFICIAL_ROLES})
INVITABLE_ROLES = tuple(sorted(OFFICIAL_ROLES))
