from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from studio import health, views
from studio.accounts import api as accounts_api

api_v1 = [
    path("me/", accounts_api.MeView.as_view(), name="api-me"),
    path("workspaces/", accounts_api.WorkspaceListView.as_view(), name="api-workspaces"),
    path("", include("studio.datasets.api_urls")),
    path("", include("studio.experiments.api_urls")),
    path("", include("studio.registry.api_urls")),
    path("", include("studio.serving.api_urls")),
    path("", include("studio.pipelines.api_urls")),
    path("", include("studio.codefirst.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("", include("studio.accounts.urls")),
    path("datasets/", include("studio.datasets.urls")),
    path("experiments/", include("studio.experiments.urls")),
    path("models/", include("studio.registry.urls")),
    path("endpoints/", include("studio.serving.urls")),
    path("code/", include("studio.codefirst.urls")),
    path("pipelines/", include("studio.pipelines.urls")),
    path("api/v1/", include(api_v1)),
]

handler404 = "studio.views.page_not_found"
handler500 = "studio.views.server_error"
