from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "studio.serving"
    label = "serving"
