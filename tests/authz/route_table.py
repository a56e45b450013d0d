"""The API's route table as data, read from `sentinel.api.app.ROUTERS`: every endpoint's
method, path, path parameters and the permissions its organization guards declare. The RBAC
and cross-tenant matrices are generated from it, so a new route is covered automatically."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from sentinel.api.app import ROUTERS
from sentinel.authz.guard import PERMISSION_ATTR
from sentinel.authz.permissions import Permission

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READING = frozenset({"GET", "HEAD"})
ORG_PARAM = "org_id"
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def required_query(dependant: Dependant) -> list[str]:
    """Query parameters a request must carry, anywhere in the dependency tree."""
    found = [f.name for f in dependant.query_params if f.field_info.is_required()]
    for dependency in dependant.dependencies:
        found.extend(required_query(dependency))
    return found


def guard_permissions(dependant: Dependant) -> list[Permission]:
    """The permission of every organization guard anywhere in the dependency tree."""
    found: list[Permission] = []
    permission = getattr(dependant.call, PERMISSION_ATTR, None)
    if permission is not None:
        found.append(Permission(permission))
    for dependency in dependant.dependencies:
        found.extend(guard_permissions(dependency))
    return found


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    permissions: tuple[Permission, ...]
    query: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return [match[1] for match in _PARAM.finditer(self.path)]

    @property
    def object_params(self) -> list[str]:
        """Path parameters other than the organization: ids of objects inside it."""
        return [name for name in self.params if name != ORG_PARAM]

    @property
    def org_scoped(self) -> bool:
        return ORG_PARAM in self.params

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING

    @property
    def permission(self) -> Permission:
        assert len(self.permissions) == 1, f"{self} has guards {self.permissions}"
        return self.permissions[0]

    def url(self, values: dict[str, str]) -> str:
        return _PARAM.sub(lambda m: values[m[1]], self.path)


def api_routes() -> list[APIRoute]:
    return [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]


def _methods(route: APIRoute) -> list[str]:
    """HEAD comes with GET; it counts only on a route that has nothing else."""
    methods = set(route.methods or ())
    return sorted(methods - {"HEAD"} or methods)


def endpoints() -> list[Endpoint]:
    """One entry per (method, path) of every router the application mounts."""
    found = [
        Endpoint(
            method,
            route.path,
            tuple(guard_permissions(route.dependant)),
            tuple(required_query(route.dependant)),
        )
        for route in api_routes()
        for method in _methods(route)
    ]
    return sorted(found, key=lambda e: (e.path, e.method))


ENDPOINTS = endpoints()
GUARDED = [e for e in ENDPOINTS if e.org_scoped]
GUARDED_MUTATING = [e for e in GUARDED if e.mutating]
GUARDED_READING = [e for e in GUARDED if not e.mutating]
WITH_OBJECT_PARAMS = [e for e in GUARDED if e.object_params]
