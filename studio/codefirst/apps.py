from django.apps import AppConfig


class CodefirstConfig(AppConfig):
    """Code-first views of the studio's objects: generated training code for a trial, the data it trains on."""

    name = "studio.codefirst"
    label = "codefirst"
