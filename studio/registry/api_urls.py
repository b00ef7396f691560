from django.urls import path

from studio.registry import api

urlpatterns = [
    path("models/", api.ModelListView.as_view(), name="api-models"),
    path("models/<str:name>/", api.ModelDetailView.as_view(), name="api-model"),
    path("models/<str:name>/versions/", api.ModelVersionListView.as_view(), name="api-model-versions"),
    path("models/<str:name>/versions/<str:ref>/", api.ModelVersionDetailView.as_view(), name="api-model-version"),
    path("models/<str:name>/aliases/", api.ModelAliasesView.as_view(), name="api-model-aliases"),
    path("models/<str:name>/aliases/<str:alias>/", api.ModelAliasDetailView.as_view(), name="api-model-alias"),
]
