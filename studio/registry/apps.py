from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "studio.registry"
    label = "registry"
