from django.urls import path

from studio.codefirst import api

urlpatterns = [
    path("datasets/mltable/", api.MLTableDatasetView.as_view(), name="api-dataset-mltable"),
    path("models/<str:name>/versions/<str:ref>/download/", api.ModelVersionDownloadView.as_view(),
         name="api-model-version-download"),
    path("trials/<int:pk>/mlflow", api.TrialMlflowView.as_view(), name="api-trial-mlflow"),
]
