"""Who may see and change endpoints, their deployments and batch jobs."""
from studio.accounts.access import get_for_member
from studio.accounts.models import Role
from studio.serving.models import BatchJob, Endpoint


def endpoint_for(user, pk, role: str = Role.VIEWER) -> Endpoint:
    """An endpoint in a workspace the user belongs to with at least ``role`` (404 outsiders, 403 too low)."""
    return get_for_member(user, Endpoint.objects.select_related("workspace", "created_by"), role, pk=pk)


def batch_job_for(user, endpoint_pk, pk, role: str = Role.VIEWER) -> BatchJob:
    """A batch job of an endpoint the user may see with at least ``role``."""
    return get_for_member(user, BatchJob.objects.select_related("endpoint", "model_version__model"), role,
                          endpoint_id=endpoint_pk, pk=pk)
