"""Who may see and change registered models and their versions."""
from studio.accounts.access import get_for_member
from studio.accounts.models import Role
from studio.registry.models import ModelVersion, RegisteredModel


def model_for(user, pk, role: str = Role.VIEWER) -> RegisteredModel:
    """A registered model in a workspace the user belongs to with at least ``role`` (404 outsiders, 403 too low)."""
    return get_for_member(user, RegisteredModel.objects.select_related("workspace", "created_by"), role, pk=pk)


def version_for(user, model_pk, number, role: str = Role.VIEWER) -> ModelVersion:
    """Version ``number`` of a registered model the user may see with at least ``role``."""
    queryset = ModelVersion.objects.select_related("model__workspace", "created_by", "trial__run__experiment",
                                                   "trial__run__dataset_version__dataset")
    return get_for_member(user, queryset, role, workspace_field="model__workspace", model_id=model_pk, version=number)
