"""Who may see and change runs and trials: one helper per object type on ``get_for_member``."""
from studio.accounts.access import get_for_member
from studio.accounts.models import Role
from studio.experiments.models import Run, Trial


def run_for(user, pk, role: str = Role.VIEWER) -> Run:
    """A run in a workspace the user belongs to with at least ``role`` (404 outsiders, 403 too low)."""
    queryset = Run.objects.select_related("experiment", "workspace", "dataset_version__dataset", "created_by")
    return get_for_member(user, queryset, role, pk=pk)


def trial_for(user, pk, role: str = Role.VIEWER) -> Trial:
    """A trial whose run is in a workspace the user belongs to with at least ``role``."""
    queryset = Trial.objects.select_related("run__experiment", "run__workspace", "run__dataset_version__dataset")
    return get_for_member(user, queryset, role, workspace_field="run__workspace", pk=pk)
