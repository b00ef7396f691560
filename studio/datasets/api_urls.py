from django.urls import path

from studio.datasets import api

urlpatterns = [
    path("datasets/", api.DatasetListView.as_view(), name="api-datasets"),
    path("datasets/<int:pk>/", api.DatasetDetailView.as_view(), name="api-dataset"),
    path("datasets/<int:pk>/profile/", api.DatasetProfileView.as_view(), name="api-dataset-profile"),
    path("datasets/<int:pk>/preview/", api.DatasetPreviewView.as_view(), name="api-dataset-preview"),
    path("datasets/<int:pk>/schema/", api.DatasetSchemaView.as_view(), name="api-dataset-schema"),
]
