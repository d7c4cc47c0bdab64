"""Users, their roles and tenant scope (`Viewer`), as the API and the CLI need them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.audit_review import changes_in_words
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound, ReasonRequired
from coldchain.catalog.schema import ROLES, SiteRow, SponsorRow, UserRow, UserSiteRow

__all__ = [
    "REASONED_USER_FIELDS",
    "Viewer",
    "ViewerScope",
    "upsert_user",
    "user_fields",
    "viewer_for_user",
]

#: What a user may see and do: changing any of these needs a reason for change.
REASONED_USER_FIELDS = ("role", "sponsor", "sites")


#: `Viewer.scope`.
ViewerScope = tuple[str, str | None, frozenset[str]]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking, for tenant scoping in the data-access layer (docs/design.md §6).

    Usage:
        viewer = Viewer(user_id="alice", role="sponsor_viewer", sponsor="ACME")
        products_for_sponsor(session, viewer=viewer, sponsor="ACME")
    """

    user_id: str
    role: str
    sponsor: str | None = None
    sites: frozenset[str] = field(default_factory=frozenset)
    #: The printed name, as a signature shows it (None: the id is all there is).
    name: str | None = None

    @property
    def sees_everything(self) -> bool:
        return self.role in ("qa", "admin")

    @property
    def scope(self) -> ViewerScope:
        """What decides everything this viewer may see (role, sponsor, sites), not who they
        are: viewers of one scope may share a cached answer."""
        return (self.role, self.sponsor, self.sites)


def viewer_for_user(session: Session, *, user_id: str) -> Viewer:
    user = session.get(UserRow, user_id)
    if user is None:
        raise CatalogNotFound(f"user {user_id!r} not found")
    sites = frozenset(_sites_of(session, user_id))
    return Viewer(user.id, user.role, user.sponsor_id, sites, user.name)


def _sites_of(session: Session, user_id: str) -> list[str]:
    query = select(UserSiteRow.site_id).where(UserSiteRow.user_id == user_id)
    return sorted(session.execute(query).scalars())


def user_fields(session: Session, user_id: str) -> dict[str, object] | None:
    """The audited fields of a user (no credentials), or None if there is no such user."""
    user = session.get(UserRow, user_id)
    if user is None:
        return None
    return {
        "role": user.role,
        "sponsor": user.sponsor_id,
        "name": user.name,
        "sites": _sites_of(session, user_id),
    }


def upsert_user(
    session: Session,
    *,
    user_id: str,
    role: str,
    actor: str,
    sponsor: str | None = None,
    sites: Iterable[str] = (),
    name: str | None = None,
    reason: str | None = None,
) -> bool:
    """Create the user or bring role, sponsor, sites and name to these; True if changed.

    Credentials are left alone: a re-import of the fleet file keeps everyone's password.
    Changing an existing user's role, sponsor or sites changes what they may see and do:
    it needs a `reason` (recorded in the audit entry as `"reason"`), else `ReasonRequired`
    is raised before anything is written.
    """
    site_list = sorted(set(sites))
    _check_binding(session, user_id, role, sponsor, site_list)
    old = user_fields(session, user_id)
    new: dict[str, object] = {"role": role, "sponsor": sponsor, "name": name, "sites": site_list}
    if old == new:
        return False
    because = _reason_for(user_id, old, new, reason)
    user = session.get(UserRow, user_id)
    if user is None:
        user = UserRow(id=user_id, password_hash=None)
        session.add(user)
    user.role, user.sponsor_id, user.name = role, sponsor, name
    session.flush()
    if old is None or old["sites"] != site_list:
        session.execute(delete(UserSiteRow).where(UserSiteRow.user_id == user_id))
        session.add_all(UserSiteRow(user_id=user_id, site_id=site) for site in site_list)
    changed_old = None if old is None else {k: v for k, v in old.items() if new[k] != v}
    changed_new = new if old is None else {k: v for k, v in new.items() if old[k] != v}
    changed_new.update(because)
    append_audit(
        session,
        actor=actor,
        action="create" if old is None else "update",
        entity="user",
        entity_id=user_id,
        old=changed_old,
        new=changed_new,
    )
    return True


def _reason_for(
    user_id: str, old: dict[str, object] | None, new: dict[str, object], reason: str | None
) -> dict[str, str]:
    """The audit entry's `{"reason": ...}` if the change needs one; `ReasonRequired` if it
    needs one and `reason` is missing or blank."""
    if old is None:
        return {}
    moved = changes_in_words(
        {k: old[k] for k in REASONED_USER_FIELDS}, {k: new[k] for k in REASONED_USER_FIELDS}
    )
    if not moved:
        return {}
    if reason is None or not reason.strip():
        raise ReasonRequired([f"user {user_id}: {moved}"])
    return {"reason": reason.strip()}


def _check_binding(
    session: Session, user_id: str, role: str, sponsor: str | None, sites: list[str]
) -> None:
    if role not in ROLES:
        raise CatalogConflict(f"user {user_id!r}: role {role!r} is not one of {', '.join(ROLES)}")
    if role == "sponsor_viewer" and sponsor is None:
        raise CatalogConflict(f"user {user_id!r}: a sponsor_viewer needs a sponsor")
    if role == "warehouse_operator" and not sites:
        raise CatalogConflict(f"user {user_id!r}: a warehouse_operator needs at least one site")
    if sponsor is not None and session.get(SponsorRow, sponsor) is None:
        raise CatalogNotFound(f"user {user_id!r}: sponsor {sponsor!r} not found")
    for site in sites:
        if session.get(SiteRow, site) is None:
            raise CatalogNotFound(f"user {user_id!r}: site {site!r} not found")
