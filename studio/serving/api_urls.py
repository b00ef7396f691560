from django.urls import path

from studio.serving import api

urlpatterns = [
    path("endpoints/", api.EndpointListView.as_view(), name="api-endpoints"),
    path("endpoints/<str:name>/", api.EndpointDetailView.as_view(), name="api-endpoint"),
    path("endpoints/<str:name>/score/", api.score, name="api-endpoint-score"),
    path("endpoints/<str:name>/traffic/", api.EndpointTrafficView.as_view(), name="api-endpoint-traffic"),
    path("endpoints/<str:name>/deployments/", api.EndpointDeploymentsView.as_view(), name="api-endpoint-deployments"),
    path("endpoints/<str:name>/key/", api.EndpointKeyView.as_view(), name="api-endpoint-key"),
]
