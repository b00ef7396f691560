"""Who may see and change datasets: one helper per object type over ``get_for_member``."""
from studio.accounts.access import get_for_member
from studio.accounts.models import Role
from studio.datasets.models import Dataset, DatasetVersion, StagedUpload


def dataset_for(user, pk, role: str = Role.VIEWER) -> Dataset:
    """The dataset ``pk`` if the user is a member of its workspace with ``role``: else 404 (outsider) or 403."""
    return get_for_member(user, Dataset.objects.select_related("workspace"), role, pk=pk)


def version_for(user, pk, role: str = Role.VIEWER) -> DatasetVersion:
    """The dataset version ``pk`` under the same rule as ``dataset_for``."""
    return get_for_member(user, DatasetVersion.objects.select_related("dataset", "dataset__workspace"), role,
                          workspace_field="dataset__workspace", pk=pk)


def staged_upload_for(user, pk) -> StagedUpload:
    """A wizard upload: only the person who uploaded it, and still an editor of its workspace, may use it."""
    return get_for_member(user, StagedUpload.objects.filter(created_by=user), Role.EDITOR, pk=pk)
