from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    """Pipelines: small DAGs of prep, AutoML and register steps defined in CLI v2 pipeline YAML."""

    name = "studio.pipelines"
    label = "pipelines"
